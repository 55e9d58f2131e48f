"""Celery shell for operators' replay of failed work (logic: ``tasks.domain.requeue``)."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from tasks.base import SocialcalTask
from tasks.domain import requeue
from worker.core.queues import TaskName


@shared_task(name=TaskName.REQUEUE_FAILED.value, base=SocialcalTask, bind=True)
def requeue_failed_task(self: SocialcalTask, failed_job_id: str, **_unknown: Any) -> dict[str, Any]:
    with self.transaction() as session:
        result = requeue.requeue(session, failed_job_id)
    return result.__dict__
