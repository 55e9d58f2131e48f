"""Celery shells for the approval gate (logic: ``tasks.domain.approval``)."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from tasks.base import SocialcalTask
from tasks.domain import approval
from worker.core.queues import TaskName


@shared_task(name=TaskName.APPROVE.value, base=SocialcalTask, bind=True)
def approve_task(self: SocialcalTask, post_id: str, approver: str, content_hash: str,
                 **_unknown: Any) -> dict[str, Any]:
    with self.transaction() as session:
        decision = approval.approve(session, post_id, approver, content_hash)
    return decision.__dict__


@shared_task(name=TaskName.REJECT.value, base=SocialcalTask, bind=True)
def reject_task(self: SocialcalTask, post_id: str, approver: str, reason: str, **_unknown: Any) -> dict[str, Any]:
    with self.transaction() as session:
        decision = approval.reject(session, post_id, approver, reason)
    return decision.__dict__
