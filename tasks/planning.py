"""Celery shells for planning (logic: ``tasks.domain.planning``)."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from tasks.base import SocialcalTask
from tasks.domain import planning
from tasks.domain.errors import BadMessage
from worker.core.logging import bind_log_context
from worker.core.queues import TaskName


@shared_task(name=TaskName.PLAN_MONTH.value, base=SocialcalTask, bind=True)
def plan_month_task(self: SocialcalTask, tenant_id: str, month: str, **_unknown: Any) -> dict[str, Any]:
    bind_log_context(tenant_id=tenant_id)
    try:
        with self.transaction() as session:
            result = planning.plan_month(session, tenant_id, month)
    except planning.PlanningError as error:
        raise BadMessage(str(error)) from None
    return result.as_dict()


@shared_task(name=TaskName.PLAN_NEXT_MONTH.value, base=SocialcalTask, bind=True)
def plan_next_month_task(self: SocialcalTask, **_unknown: Any) -> int:
    """Beat: queue next month's plan for every active tenant."""
    with self.transaction() as session:
        return planning.plan_next_month(session)
