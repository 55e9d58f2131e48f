"""Celery tasks for Page insights and post metrics: thin wrappers over ``tasks.insights_pull`` and
``tasks.post_metrics``.

``insights.pull_all`` fans out in waves (see ``plan_wave``): Redis redelivers ETA tasks that wait
past the visibility timeout, so no countdown handed to the broker exceeds
``settings.max_broker_countdown_seconds``; the daily spread over ``insights_spread_seconds`` is
made of short hops instead.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy.orm import Session

from graph.errors import GraphError
from tasks.insights_pull import PullResult, fanout_counts, plan_wave, pull_page_insights
from tasks.post_metrics import sync_post_metrics as sync_post_metrics_for
from worker.app import app
from worker.base import BadMessage, SocialcalTask, bind, enqueue, require_uuid
from worker.logging import get_logger
from worker.queues import Queue
from worker.settings import get_settings

log = get_logger(__name__)

WAVE_LIMIT = 1000  # pulls sent by one wave at most, so one task never holds 10,000 sends


def _follow_ups(session: Session, result: PullResult) -> None:
    """After a stored pull: score the new days, then refresh post metrics (both after commit)."""
    enqueue(session, "analysis.detect_anomalies", result.integration_id)
    enqueue(session, "insights.sync_post_metrics", result.integration_id, queue=Queue.INSIGHTS.value)


@app.task(name="insights.pull_page", base=SocialcalTask, bind=True)
def pull_page(self: SocialcalTask, integration_id: Any, **_unknown: Any) -> dict[str, Any]:
    integration_id = require_uuid(integration_id, "integration_id")
    bind(integration_id=integration_id)
    try:
        result = pull_page_insights(integration_id, on_stored=_follow_ups)
    except GraphError as error:
        self.retry_for(error, integration_id=integration_id)
    return {"rows": result.rows, "changed": result.changed, "calls": result.calls,
            "dropped": result.dropped, "skipped": result.skipped}


@app.task(name="insights.sync_post_metrics", base=SocialcalTask, bind=True)
def sync_post_metrics(self: SocialcalTask, integration_id: Any, **_unknown: Any) -> dict[str, Any]:
    integration_id = require_uuid(integration_id, "integration_id")
    bind(integration_id=integration_id)
    try:
        result = sync_post_metrics_for(integration_id)
    except GraphError as error:
        self.retry_for(error, integration_id=integration_id)
    return {"tracked": result.tracked, "rows": result.rows, "calls": result.calls,
            "missing": len(result.missing), "skipped": result.skipped}


def _number(value: Any, field: str, *, minimum: float = 0.0) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < minimum:
        raise BadMessage(f"{field}: expected a number >= {minimum}")
    return float(value)


@app.task(name="insights.pull_all", base=SocialcalTask, bind=True)
def pull_all(self: SocialcalTask, cursor: Any = None, index: Any = 0, start: Any = None, per: Any = None,
             **_unknown: Any) -> dict[str, Any]:
    """One ``insights.pull_page`` per eligible Page, spread over the day's window in waves.

    Beat sends it bare (first wave: counts, logs, fixes the schedule); each wave re-sends itself
    with ``cursor``/``index``/``start``/``per`` for the next one.
    """
    settings = get_settings()
    now = time.time()
    cursor = require_uuid(cursor, "cursor") if cursor is not None else None
    index = int(_number(index, "index"))
    with self.transaction() as session:
        if start is None:
            counts = fanout_counts(session)
            log.info("insights_fanout_started", eligible=counts.eligible, skipped_needs_reconnect=counts.needs_reconnect,
                     skipped_disabled=counts.disabled, skipped_tenant_inactive=counts.tenant_inactive,
                     spread_seconds=settings.insights_spread_seconds)
            start, per = now, settings.insights_spread_seconds / max(counts.eligible, 1)
        else:
            start, per = _number(start, "start"), _number(per if per is not None else 0, "per")
        wave = plan_wave(session, cursor=cursor, index=index, start=start, per=per, now=now,
                         horizon=settings.max_broker_countdown_seconds, limit=WAVE_LIMIT)
        for integration_id, countdown in wave.pulls:
            enqueue(session, "insights.pull_page", integration_id, countdown=countdown, queue=Queue.INSIGHTS.value)
        if wave.next_countdown is not None:
            enqueue(session, "insights.pull_all", countdown=wave.next_countdown, queue=Queue.INSIGHTS.value,
                    cursor=wave.next_cursor, index=wave.next_index, start=start, per=per)
    log.info("insights_fanout_wave", sent=len(wave.pulls), index=index, done=wave.next_countdown is None)
    return {"sent": len(wave.pulls), "next_index": wave.next_index, "done": wave.next_countdown is None}
