"""Celery shells for Page insights, post metrics and the daily fan-out (logic:
``tasks.domain.page_insights``, ``tasks.domain.post_metrics`` and ``tasks.domain.fanout``)."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from graph.errors import GraphError
from tasks.base import SocialcalTask
from tasks.domain import fanout, page_insights, post_metrics
from worker.core.logging import bind_log_context
from worker.core.queues import TaskName
from worker.core.settings import get_settings


@shared_task(name=TaskName.PULL_PAGE.value, base=SocialcalTask, bind=True)
def pull_page_task(self: SocialcalTask, integration_id: str, **_unknown: Any) -> dict[str, Any]:
    bind_log_context(integration_id=integration_id)
    try:
        result = page_insights.pull_page_insights(integration_id, on_stored=page_insights.queue_follow_ups)
    except GraphError as error:
        self.retry_for(error, integration_id=integration_id)
    return {"rows": result.rows, "changed": result.changed, "calls": result.calls,
            "dropped": result.dropped, "skipped": result.skipped}


@shared_task(name=TaskName.SYNC_POST_METRICS.value, base=SocialcalTask, bind=True)
def sync_post_metrics_task(self: SocialcalTask, integration_id: str, **_unknown: Any) -> dict[str, Any]:
    bind_log_context(integration_id=integration_id)
    try:
        result = post_metrics.sync_post_metrics(integration_id)
    except GraphError as error:
        self.retry_for(error, integration_id=integration_id)
    return {"tracked": result.tracked, "rows": result.rows, "calls": result.calls,
            "missing": len(result.missing), "skipped": result.skipped}


@shared_task(name=TaskName.PULL_ALL.value, base=SocialcalTask, bind=True)
def pull_all_task(self: SocialcalTask, cursor: str | None = None, index: int = 0, start: float | None = None,
                  per: float | None = None, **_unknown: Any) -> dict[str, Any]:
    """One ``insights.pull_page`` per eligible Page, spread over the day's window in waves.

    Beat sends it bare (the first wave); each wave re-sends itself with ``cursor``/``index``/``start``/
    ``per`` for the next one.
    """
    if start is not None and per is None:
        per = 0.0
    with self.transaction() as session:
        wave = fanout.run_wave(session, get_settings(), cursor=cursor, index=index, start=start, per=per)
    return {"sent": wave.sent, "next_index": wave.next_index, "done": wave.done}
