"""``socialcal status``: one report of how the pipeline is doing, part by part.

Each part (queues, workers, beat, budgets, failures, Pages to reconnect, posts due) is read on its
own; a part whose store is down (Redis, the database) becomes one plain-words line in ``errors``
instead of stopping the report, so an operator sees everything that *can* be seen and the command
exits non-zero. Workers are asked over the broker with a short timeout (Celery remote control): a
worker that answers is alive, whatever its pool is doing.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

import redis
from celery import current_app
from sqlalchemy.exc import SQLAlchemyError

from graph.budget import GraphBudget
from models import utcnow
from models.crypto import get_cipher
from models.db import transaction
from tasks.domain import ops_queries
from tasks.domain.clients import budget_for
from tasks.domain.heartbeat import last_dispatch_run
from worker.core.queues import WORKER_QUEUES
from worker.core.redaction import redact_text
from worker.core.settings import Settings

DISPATCH_EVERY_SECONDS = 60
BEAT_LATE_SECONDS = 3 * DISPATCH_EVERY_SECONDS


class Unavailable(Exception):
    """A store this part needs cannot be reached; the message says which, in plain words."""


def plain_error(error: BaseException) -> str:
    """One redacted line naming the store and what went wrong (never a traceback, never a secret)."""
    if isinstance(error, Unavailable):
        return str(error)
    if isinstance(error, redis.RedisError):
        return f"Redis is unreachable ({redact_text(str(error).splitlines()[0] if str(error) else type(error).__name__)})"
    if isinstance(error, SQLAlchemyError):
        detail = str(getattr(error, "orig", None) or error).splitlines()[0]
        return f"the database is unreachable ({redact_text(detail)})"
    return redact_text(f"{type(error).__name__}: {error}".splitlines()[0])


def redis_client(url: str) -> redis.Redis:
    """A Redis client that fails within seconds (status must answer fast when Redis is down)."""
    return redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=3)


def broker_redis(settings: Settings) -> redis.Redis:
    if not settings.broker_url.startswith(("redis://", "rediss://", "unix://")):
        raise Unavailable(f"the broker is not Redis ({settings.broker_url.split(':', 1)[0]}): "
                          "queue depths and workers cannot be read from here")
    return redis_client(settings.broker_url)


def check_broker(settings: Settings) -> None:
    """Raise ``Unavailable`` unless the broker answers (bulk commands check before changing anything)."""
    if not settings.broker_url.startswith(("redis://", "rediss://", "unix://")):
        return  # another transport: Celery's own errors will say it
    try:
        broker_redis(settings).ping()
    except redis.RedisError as error:
        raise Unavailable(plain_error(error).replace("Redis is", "the broker (Redis) is", 1) +
                          "; nothing was changed") from None


def state_redis_or_fail(settings: Settings) -> redis.Redis:
    if settings.redis_url is None and settings.broker_url.startswith("memory://"):
        raise Unavailable("the in-memory demo broker keeps budgets in its own process")
    return redis_client(settings.budget_redis_url)


# ------------------------------------------------------------------------------------ the parts

def workers_part(broker: redis.Redis, timeout: float) -> dict[str, Any]:
    broker.ping()  # fail fast here: remote control would otherwise retry a dead broker for a while
    replies = current_app.control.inspect(timeout=timeout).active_queues() or {}
    nodes = [{"name": name, "queues": sorted(q.get("name", "?") for q in queues or [])}
             for name, queues in sorted(replies.items())]
    consumed = {queue for node in nodes for queue in node["queues"]}
    return {"alive": len(nodes), "nodes": nodes,
            "unconsumed_queues": [q.value for q in WORKER_QUEUES if q.value not in consumed]}


def beat_part(state: redis.Redis, now: float) -> dict[str, Any]:
    run = last_dispatch_run(state)
    if run is None:
        return {"dispatch_due_last_run_at": None, "seconds_ago": None, "late": True,
                "note": "dispatch_due has not run since Redis started: is beat running, and a worker on 'publish'?"}
    ago = max(0.0, now - run["at"])
    return {"dispatch_due_last_run_at": datetime.fromtimestamp(run["at"], tz=timezone.utc),
            "seconds_ago": round(ago, 1), "late": ago > BEAT_LATE_SECONDS,
            "last_counts": {k: int(v) for k, v in run.items() if k != "at"}}


def budgets_part(budget: GraphBudget, settings: Settings, now: float) -> dict[str, Any]:
    cipher = get_cipher(settings)
    with transaction() as session:
        integrations = ops_queries.budgeted_integrations(session)
        for integration in integrations:
            session.expunge(integration)
    pages = ops_queries.page_budgets(integrations, budget, cipher, now)
    return {"app_paused_seconds": ops_queries.app_pause_seconds(budget, now),
            "capacity_per_window": budget.shape.capacity, "window_seconds": budget.shape.window,
            "pages": [asdict(page) for page in pages]}


def failures_part(now: datetime) -> dict[str, Any]:
    with transaction() as session:
        return {"last_24h": ops_queries.failures_since(session, now - timedelta(hours=24)),
                "open": sum(row["count"] for row in ops_queries.open_failed_jobs(session))}


def reconnect_part() -> list[dict[str, Any]]:
    with transaction() as session:
        return ops_queries.needs_reconnect(session)


def due_part(now: datetime) -> dict[str, Any]:
    with transaction() as session:
        return ops_queries.awaiting_handoff(session, now)


# ------------------------------------------------------------------------------------ the report

def gather(settings: Settings, *, timeout: float = 1.0) -> dict[str, Any]:
    """The whole report; ``report["errors"]`` lists the parts that could not be read, and why."""
    now_dt, now = utcnow(), time.time()
    report: dict[str, Any] = {"generated_at": now_dt, "errors": []}

    def part(name: str, read: Callable[[], Any]) -> None:
        try:
            report[name] = read()
        except Exception as error:  # noqa: BLE001 - every failure becomes one line, never a traceback
            report[name] = None
            report["errors"].append({"part": name, "error": plain_error(error)})

    def broker() -> redis.Redis:
        return broker_redis(settings)

    part("queues", lambda: ops_queries.queue_depths(broker()))
    if report["queues"] is None:  # the broker is down: asking the workers through it would only wait
        report["workers"] = None
        report["errors"].append({"part": "workers", "error": report["errors"][-1]["error"]})
    else:
        part("workers", lambda: workers_part(broker(), timeout))
    part("beat", lambda: beat_part(state_redis_or_fail(settings), now))
    part("budgets", lambda: budgets_part(_checked_budget(settings), settings, now))
    part("failures", lambda: failures_part(now_dt))
    part("needs_reconnect", reconnect_part)
    part("due_within_hour", lambda: due_part(now_dt))
    return report


def _checked_budget(settings: Settings) -> GraphBudget:
    state_redis_or_fail(settings).ping()
    return budget_for(settings)
