"""What a worker does once it is ready: take back, as soon as it is safe, what dead workers held.

After every worker was killed, the broker keeps their messages unacked for its visibility timeout
(two hours) and ``dispatch_due`` would find their posts only once a lease expired and a re-dispatch
window passed. A starting worker runs ``dispatch.recover_after_start`` instead, so every approved
post is on its way again within one lease of the restart.

Several workers usually start together (a deploy, a host reboot): the first one to set a short-lived
Redis key does the sweep for all of them. Without that key (Redis unreachable, the embedded demo's
in-memory broker) each worker sweeps; copies only cost a lost claim each.
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

GUARD_KEY = "socialcal:recovery:last"
# One sweep per this many seconds for the whole fleet: workers starting together share it; a worker
# killed after that is found by the next starter or by dispatch_due.
GUARD_SECONDS = 20


def _first_starter(settings: Settings, node: str) -> bool:
    if settings.redis_url is None and settings.broker_url.startswith("memory://"):
        return True
    try:
        return bool(redis_client(settings.budget_redis_url).set(GUARD_KEY, node, nx=True, ex=GUARD_SECONDS))
    except redis.RedisError as error:
        log.warning("recovery_guard_unavailable", error=type(error).__name__)
        return True


def recover_on_start(settings: Settings, node: str | None = None) -> dict[str, int] | None:
    """Sweep once for the fleet (None when another worker has just done it); never raises."""
    node = node or socket.gethostname()
    if not settings.recover_on_start:
        return None
    try:
        if not _first_starter(settings, node):
            log.info("recovery_skipped", reason="another worker swept moments ago")
            return None
        with transaction() as session:
            counts = recover_after_start(session, datetime.now(timezone.utc), settings)
        with transaction() as session:
            counts.update(resend_outbox(session, datetime.now(timezone.utc)))
    except Exception as error:  # noqa: BLE001 - the database may be down; dispatch_due is the backstop
        log.warning("recovery_failed", error_class=type(error).__name__, error=str(error)[:300])
        return None
    log.info("recovered_after_start", node=node, **counts)
    return counts
