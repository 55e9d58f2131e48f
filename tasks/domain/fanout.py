"""The daily insights fan-out: one ``insights.pull_page`` per eligible Page, spread over the day.

Redis redelivers ETA tasks that wait past the visibility timeout, so no countdown handed to the
broker exceeds ``settings.max_broker_countdown_seconds``; the spread over
``settings.insights_spread_seconds`` is made of short hops instead (``plan_wave``), each wave sending
the pulls that fall within the horizon and then itself again for the rest.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models import Integration, IntegrationStatus, Tenant, TenantStatus
from tasks.domain.messaging import enqueue
from worker.core.logging import get_logger
from worker.core.queues import Queue, TaskName
from worker.core.settings import Settings

log = get_logger(__name__)

WAVE_LIMIT = 1000  # pulls sent by one wave at most, so one task never holds 10,000 sends


@dataclass(frozen=True)
class FanoutCounts:
    eligible: int
    needs_reconnect: int
    disabled: int
    tenant_inactive: int


def _facebook() -> Any:
    return Integration.provider == "facebook"


def fanout_counts(session: Session) -> FanoutCounts:
    """How many Pages the fan-out will pull, and how many it skips and why."""
    rows = session.execute(
        select(Integration.status, Tenant.status, func.count())
        .join(Tenant, Tenant.id == Integration.tenant_id)
        .where(_facebook())
        .group_by(Integration.status, Tenant.status)
    ).all()
    counts = {"eligible": 0, "needs_reconnect": 0, "disabled": 0, "tenant_inactive": 0}
    for integration_status, tenant_status, count in rows:
        if tenant_status != TenantStatus.ACTIVE:
            counts["tenant_inactive"] += count
        elif integration_status == IntegrationStatus.ACTIVE:
            counts["eligible"] += count
        elif integration_status == IntegrationStatus.NEEDS_RECONNECT:
            counts["needs_reconnect"] += count
        else:
            counts["disabled"] += count
    return FanoutCounts(**counts)


@dataclass(frozen=True)
class Wave:
    """One fan-out wave: pulls to send now with their countdowns, and where the next wave starts."""

    pulls: list[tuple[str, float]]
    next_cursor: str | None = None
    next_index: int = 0
    next_countdown: float | None = None  # None: the fan-out is complete


def plan_wave(session: Session, *, cursor: str | None, index: int, start: float, per: float, now: float,
              horizon: float, limit: int = 1000) -> Wave:
    """Pulls whose slot (``start + position * per``) falls within ``horizon`` seconds from ``now``.

    Why waves: a countdown longer than the broker limit would be an ETA task Redis redelivers (and
    duplicates) after its visibility timeout; so each wave only hands out countdowns up to
    ``horizon`` and schedules the next wave, itself within ``horizon``. Positions follow integration
    ids, so the cursor survives Pages added or removed between waves.
    """
    query = (
        select(Integration.id).join(Tenant, Tenant.id == Integration.tenant_id)
        .where(_facebook(), Integration.status == IntegrationStatus.ACTIVE, Tenant.status == TenantStatus.ACTIVE)
        .order_by(Integration.id).limit(limit)
    )
    if cursor is not None:
        query = query.where(Integration.id > cursor)
    ids = list(session.scalars(query))
    pulls: list[tuple[str, float]] = []
    position = index
    for integration_id in ids:
        delay = start + position * per - now
        if delay > horizon:
            break
        pulls.append((integration_id, max(0.0, delay)))
        position += 1
    more = len(pulls) < len(ids) or len(ids) == limit
    if not more:
        return Wave(pulls=pulls)
    next_cursor = pulls[-1][0] if pulls else cursor
    next_delay = start + position * per - now
    return Wave(pulls=pulls, next_cursor=next_cursor, next_index=position,
                next_countdown=min(horizon, max(0.0, next_delay)))


@dataclass(frozen=True)
class WaveSent:
    """What one wave of ``pull_all`` did, for the task's result and log line."""

    sent: int
    next_index: int
    done: bool


def run_wave(session: Session, settings: Settings, *, cursor: str | None, index: int, start: float | None,
             per: float | None, now: float | None = None) -> WaveSent:
    """Send one wave of pulls and, unless it was the last, the next wave.

    The first wave (``start`` None) counts the eligible Pages and fixes the spread; later waves carry
    ``start`` and ``per`` forward so every Page keeps its slot in the day.
    """
    now = time.time() if now is None else now
    if start is None:
        counts = fanout_counts(session)
        log.info("insights_fanout_started", eligible=counts.eligible, skipped_needs_reconnect=counts.needs_reconnect,
                 skipped_disabled=counts.disabled, skipped_tenant_inactive=counts.tenant_inactive,
                 spread_seconds=settings.insights_spread_seconds)
        start, per = now, settings.insights_spread_seconds / max(counts.eligible, 1)
    per = per or 0.0
    wave = plan_wave(session, cursor=cursor, index=index, start=start, per=per, now=now,
                     horizon=settings.max_broker_countdown_seconds, limit=WAVE_LIMIT)
    for integration_id, countdown in wave.pulls:
        enqueue(session, TaskName.PULL_PAGE, integration_id, countdown=countdown, queue=Queue.INSIGHTS.value)
    if wave.next_countdown is not None:
        enqueue(session, TaskName.PULL_ALL, countdown=wave.next_countdown, queue=Queue.INSIGHTS.value,
                cursor=wave.next_cursor, index=wave.next_index, start=start, per=per)
    log.info("insights_fanout_wave", sent=len(wave.pulls), index=index, done=wave.next_countdown is None)
    return WaveSent(sent=len(wave.pulls), next_index=wave.next_index, done=wave.next_countdown is None)
