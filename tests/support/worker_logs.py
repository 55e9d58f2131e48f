"""Reading real workers' logs: how each run of a task ended, and whether every message has run.

Tests wait on these instead of sleeping: Celery writes one line when a worker takes a message and one
when that run ends, and the log is the only witness of a run that changed nothing in the database.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from typing import Any, Iterable

# Celery's own lines about each message: "Task NAME[ID] received" when a worker takes it, and one
# line when that run ends ("succeeded in 0.1s: {...}", "raised unexpected: ...", "retry: ...").
_TASK_LINE = re.compile(r"^Task (?P<name>[\w.]+)\[(?P<id>[0-9a-f-]+)\] (?P<rest>.*)$", re.S)


def _task_lines(log_text: str) -> Iterable[tuple[dict[str, Any], re.Match[str]]]:
    for line in log_text.splitlines():
        if not line.startswith("{"):
            continue
        try:
            record = json.loads(line)
        except ValueError:
            continue
        match = _TASK_LINE.match(str(record.get("event", "")))
        if match:
            yield record, match


def task_runs(log_text: str, name: str, post_id: str | None = None) -> list[str]:
    """How each finished run of task ``name`` ended, in log order (of ``post_id`` when given): the
    text after ``Task NAME[ID]``, e.g. ``succeeded in 0.02s: {'post_id': ..., 'status': 'skipped'}``.
    Runs still going, or killed, are not listed."""
    return [match["rest"] for record, match in _task_lines(log_text)
            if match["name"] == name and record.get("logger") == "celery.app.trace"
            and (post_id is None or record.get("post_id") == post_id)]


def settled(log_text: str, redis_client: Any, queues: Iterable[str] = ("publish", "default", "insights")) -> bool:
    """Nothing left to run: the queues are empty, nothing is reserved by a worker, and every message a
    worker took has finished its run (a wake-up held for its countdown counts as not finished)."""
    if any(redis_client.llen(queue) for queue in queues) or redis_client.hlen("unacked"):
        return False
    received: Counter[str] = Counter()
    ended: Counter[str] = Counter()
    for record, match in _task_lines(log_text):
        if match["rest"] == "received":
            received[match["id"]] += 1
        elif record.get("logger") == "celery.app.trace":
            ended[match["id"]] += 1  # a retry keeps the task id: count runs, not ids
    return all(ended[task_id] >= count for task_id, count in received.items())
