"""The bare Celery baseline for ``bench/pipeline.py``: one trivial task on the same broker.

Same delivery settings as ``worker.app`` (late acks, reject on worker lost, prefetch 1, JSON, the same
visibility timeout), its own queue, no database and no Graph call: each task INCRs a Redis counter,
and the one that reaches the expected count stamps the time. Started as
``python -m celery -A bench.bare_app:app worker --pool solo -Q bench_bare``.
"""

from __future__ import annotations

import os
import time
from typing import Any

import redis
from celery import Celery

QUEUE = "bench_bare"
BROKER_URL = os.environ.get("SOCIALCAL_BROKER_URL", "redis://127.0.0.1:6379/10")

# Not the current app: the benchmark process sends the product's follow-ups through celery.current_app.
app = Celery("bench_bare", broker=BROKER_URL, set_as_current=False)
app.conf.update(
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    broker_transport_options={"visibility_timeout": 2 * 3600},
    task_ignore_result=True,
    task_serializer="json",
    accept_content=["json"],
    task_default_queue=QUEUE,
    broker_connection_retry_on_startup=True,
    enable_utc=True,
)

_client: redis.Redis | None = None


def counter_key(run_id: str) -> str:
    return f"bench:bare:{run_id}"


@app.task(name="bench.bare_incr")
def bare_incr(run_id: str, expected: int, **_unknown: Any) -> None:
    global _client
    if _client is None:
        _client = redis.Redis.from_url(BROKER_URL)
    if _client.incr(counter_key(run_id)) == expected:
        _client.set(counter_key(run_id) + ":done", repr(time.time()))
