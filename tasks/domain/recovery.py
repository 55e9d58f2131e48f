"""What a worker does once it is ready: take back, as soon as it is safe, what dead workers held.

After every worker was killed, the broker keeps their messages unacked for its visibility timeout
(two hours) and ``dispatch_due`` would find their posts only once a lease expired and a re-dispatch
window passed. A starting worker runs ``dispatch.recover_after_start`` instead, so every approved
post is on its way again within one lease of the restart.

Several workers usually start together (a deploy, a host reboot), and re-sending every approved
post due soon is the costly half (one copy per post, each costing a lost claim): the first worker to
set a short-lived Redis key does that half for all of them. The lease half (one wake-up per post in
``publishing``, a handful per dead worker) every worker does, so a worker that starts right after
another one died still takes its posts back. A worker that started and died inside the key's few
seconds leaves its held wake-ups to ``dispatch_due``. Without the key (Redis unreachable, the
embedded demo's in-memory broker) each worker does both halves.
"""

from __future__ import annotations

import socket
from datetime import datetime, timezone

import redis

from models.db import transaction
from tasks.domain.clients import redis_client
from tasks.domain.dispatch import recover_after_start
from tasks.domain.messaging import resend_outbox
from worker.core.logging import get_logger
from worker.core.settings import Settings

log = get_logger(__name__)

GUARD_KEY = "socialcal:recovery:approved"
# Workers starting within this many seconds of each other share one re-send of the approved posts.
GUARD_SECONDS = 10


def _first_starter(settings: Settings, node: str) -> bool:
    if settings.redis_url is None and settings.broker_url.startswith("memory://"):
        return True
    try:
        return bool(redis_client(settings.budget_redis_url).set(GUARD_KEY, node, nx=True, ex=GUARD_SECONDS))
    except redis.RedisError as error:
        log.warning("recovery_guard_unavailable", error=type(error).__name__)
        return True


def recover_on_start(settings: Settings, node: str | None = None) -> dict[str, int] | None:
    """Re-send what dead workers held; returns the counts (None when off or failed); never raises."""
    node = node or socket.gethostname()
    if not settings.recover_on_start:
        return None
    try:
        approved = _first_starter(settings, node)
        with transaction() as session:
            counts = recover_after_start(session, datetime.now(timezone.utc), settings, approved=approved)
        with transaction() as session:
            counts.update(resend_outbox(session, datetime.now(timezone.utc)))
    except Exception as error:  # noqa: BLE001 - the database may be down; dispatch_due is the backstop
        log.warning("recovery_failed", error_class=type(error).__name__, error=str(error)[:300])
        return None
    log.info("recovered_after_start", node=node, approved_swept=approved, **counts)
    return counts
