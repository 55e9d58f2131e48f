"""Celery shells for publishing (logic: ``tasks.domain.publisher``, ``tasks.domain.dispatch`` and
``tasks.domain.post_changes``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from celery import shared_task

from models import utcnow
from tasks.base import SocialcalTask
from tasks.domain import dispatch, heartbeat, messaging, post_changes, publisher
from tasks.domain.claim import new_lease_owner
from worker.core import metrics
from worker.core.logging import bind_log_context, get_logger
from worker.core.queues import TaskName
from worker.core.settings import get_settings

log = get_logger(__name__)


@shared_task(name=TaskName.PUBLISH_POST.value, base=SocialcalTask, bind=True)
def publish_post_task(self: SocialcalTask, post_id: str, **_unknown: Any) -> dict[str, Any]:
    """One attempt; waits and retries are due times in the database (see ``tasks.domain.publisher``)."""
    bind_log_context(post_id=post_id)
    try:
        result = publisher.publish_post(post_id, new_lease_owner(self.request.id), get_settings(),
                                         task_id=self.request.id)
    except Exception as error:
        metrics.publish_outcome("failed", error)
        raise
    metrics.publish_outcome(str(result.get("status")), result.get("error"), result.get("code"))
    return result


@shared_task(name=TaskName.DISPATCH_DUE.value, base=SocialcalTask, bind=True)
def dispatch_due_task(self: SocialcalTask, **_unknown: Any) -> dict[str, int]:
    with self.transaction() as session:
        counts = dispatch.dispatch_due(session, utcnow(), get_settings())
    heartbeat.record_dispatch_run(counts)  # `socialcal status` and the metrics read beat's pulse here
    with self.transaction() as session:  # apart: a message the broker still refuses keeps its row
        counts.update(messaging.resend_outbox(session, utcnow()))
    if any(counts.values()):
        log.info("dispatched", **counts)
    return counts


@shared_task(name=TaskName.RESCHEDULE_POST.value, base=SocialcalTask, bind=True)
def reschedule_post_task(self: SocialcalTask, post_id: str, scheduled_at: datetime,
                         **_unknown: Any) -> dict[str, Any]:
    try:
        with self.transaction() as session:
            return post_changes.reschedule_post(session, post_id, scheduled_at).as_dict()
    except post_changes.PageCallFailed as failed:
        self.retry_for(failed.error, integration_id=failed.integration_id)


@shared_task(name=TaskName.CANCEL_POST.value, base=SocialcalTask, bind=True)
def cancel_post_task(self: SocialcalTask, post_id: str, **_unknown: Any) -> dict[str, Any]:
    try:
        with self.transaction() as session:
            return post_changes.cancel_post(session, post_id).as_dict()
    except post_changes.PageCallFailed as failed:
        self.retry_for(failed.error, integration_id=failed.integration_id)


@shared_task(name=TaskName.UPDATE_MESSAGE.value, base=SocialcalTask, bind=True)
def update_message_task(self: SocialcalTask, post_id: str, message: str, **_unknown: Any) -> dict[str, Any]:
    """Propose a new text for a post on the Page; once that exact text is approved, apply it."""
    try:
        with self.transaction() as session:
            return post_changes.update_message(session, post_id, message).as_dict()
    except post_changes.PageCallFailed as failed:
        self.retry_for(failed.error, integration_id=failed.integration_id)
