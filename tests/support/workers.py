"""Real Celery worker processes for integration and fault tests (never eager mode).

Each worker is ``celery -A worker.app:app worker --pool solo``: one OS process per worker, so a test
can SIGKILL exactly the process that holds a task, and two workers really race for one message.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import uuid
from collections import Counter
from pathlib import Path
from typing import Any, Iterable

from support.waits import wait_for

ROOT = Path(__file__).resolve().parents[2]


class WorkerProcess:
    def __init__(self, env: dict[str, str], log_dir: Path, queues: Iterable[str], name: str | None = None,
                 pool: str = "solo", concurrency: int = 1) -> None:
        self.env = env
        self.name = name or f"w{uuid.uuid4().hex[:6]}"
        self.log_path = log_dir / f"{self.name}.log"
        self.queues = ",".join(queues)
        self.pool = pool
        self.concurrency = concurrency
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> "WorkerProcess":
        self._log = open(self.log_path, "ab")
        cmd = [sys.executable, "-m", "celery", "-A", "worker.app:app", "worker", "-Q", self.queues,
               "--pool", self.pool, "--concurrency", str(self.concurrency), "-n", f"{self.name}@%h",
               "--without-mingle", "--without-gossip", "--loglevel", "INFO"]
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=self.env, stdout=self._log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        proc = self.proc

        def ready() -> bool:
            if proc.poll() is not None:
                raise RuntimeError(f"worker {self.name} exited at start:\n{self.read_log()[-4000:]}")
            return b" ready." in self.log_path.read_bytes()

        try:
            wait_for(ready, timeout, interval=0.1, what=f"worker {self.name} ready")
        except AssertionError:
            raise RuntimeError(f"worker {self.name} not ready in {timeout}s:\n{self.read_log()[-4000:]}") from None
        return self

    def read_log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    @property
    def pids(self) -> list[int]:
        """The main process and, for prefork, its children: every process that may hold a task."""
        if self.proc is None:
            return []
        children = subprocess.run(["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True).stdout.split()
        return [self.proc.pid, *map(int, children)]

    def kill(self) -> None:
        """SIGKILL the whole worker: no chance to ack, requeue or clean up."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self, timeout: float = 15.0) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        if getattr(self, "_log", None):
            self._log.close()


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
