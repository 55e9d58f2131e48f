"""Celery shells for the approval gate (logic: ``tasks.domain.approval``)."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from tasks.base import SocialcalTask
from tasks.domain import approval
from tasks.domain.arguments import require_text, require_uuid
from worker.core.queues import TaskName


@shared_task(name=TaskName.APPROVE.value, base=SocialcalTask, bind=True)
def approve_task(self: SocialcalTask, post_id: Any, approver: Any, content_hash: Any, **_unknown: Any) -> dict[str, Any]:
    post_id = require_uuid(post_id, "post_id")
    approver, content_hash = require_text(approver, "approver"), require_text(content_hash, "content_hash", 64)
    with self.transaction() as session:
        decision = approval.approve(session, post_id, approver, content_hash)
    return decision.__dict__


@shared_task(name=TaskName.REJECT.value, base=SocialcalTask, bind=True)
def reject_task(self: SocialcalTask, post_id: Any, approver: Any, reason: Any, **_unknown: Any) -> dict[str, Any]:
    post_id = require_uuid(post_id, "post_id")
    approver, reason = require_text(approver, "approver"), require_text(reason, "reason", 2000)
    with self.transaction() as session:
        decision = approval.reject(session, post_id, approver, reason)
    return decision.__dict__
