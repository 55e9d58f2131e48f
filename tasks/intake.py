"""Celery shell for writer intake (logic: ``tasks.domain.intake``)."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from tasks.base import SocialcalTask
from tasks.domain import intake
from worker.core.queues import TaskName


@shared_task(name=TaskName.INTAKE.value, base=SocialcalTask, bind=True)
def intake_task(self: SocialcalTask, payload: Any, **_unknown: Any) -> dict[str, Any]:
    with self.transaction() as session:
        result = intake.intake(session, payload)
    return {"post_id": result.post_id, "status": result.status, "outcome": result.outcome, "reasons": result.reasons}
