"""Beat's pulse: ``dispatch_due`` records when it last ran, so an operator can tell beat is alive.

Beat sends ``publishing.dispatch_due`` every minute (with a 55 s expiry) and a worker runs it; the
time of the last run, kept in Redis beside the budgets, proves both halves work. ``socialcal status``
shows it and the state exporter serves it as ``socialcal_dispatch_due_last_run_timestamp_seconds``.
Recording is best effort: a Redis hiccup here must never fail the sweep itself.
"""

from __future__ import annotations

import time
from typing import Any

import redis

from tasks.domain.clients import state_redis
from worker.core.logging import get_logger
from worker.core.settings import Settings, get_settings

log = get_logger(__name__)

DISPATCH_KEY = "socialcal:ops:dispatch_due"


def record_dispatch_run(counts: dict[str, int], *, now: float | None = None,
                        settings: Settings | None = None) -> None:
    client = state_redis(settings or get_settings())
    if client is None:
        return
    fields: dict[str, Any] = {"at": f"{time.time() if now is None else now:.3f}"}
    fields.update({name: int(value) for name, value in counts.items()})
    try:
        client.hset(DISPATCH_KEY, mapping=fields)
    except redis.RedisError as error:
        log.warning("dispatch_heartbeat_not_recorded", error_class=type(error).__name__)


def last_dispatch_run(client: redis.Redis) -> dict[str, float] | None:
    """``{"at": epoch seconds, "approved": n, "expired_leases": n}`` of the last run, or None (never ran).

    Raises ``redis.RedisError`` when Redis cannot be read: the caller says so.
    """
    raw = client.hgetall(DISPATCH_KEY)
    if not raw:
        return None
    found: dict[str, float] = {}
    for key, value in raw.items():
        try:
            found[key.decode() if isinstance(key, bytes) else str(key)] = float(value)
        except (TypeError, ValueError):
            continue
    return found if "at" in found else None
