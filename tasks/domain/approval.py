"""The approval gate: a person approves the exact content they saw, or rejects it with a reason.

Approval records who, when and the hash of the content approved; ``publish_post`` re-checks that
hash at run time, so content edited after approval never reaches Facebook. An approval of a post
already on Facebook approves a pending edit of its message (see ``tasks.domain.post_changes.update_message``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from models import PostStatus, SocialPost, Tenant, utcnow
from tasks.domain.content import content_hash
from tasks.domain.errors import BadMessage
from tasks.domain.events import record_event
from tasks.domain.messaging import enqueue
from worker.core.logging import bind_log_context, get_logger
from worker.core.queues import TaskName
from worker.core.settings import Settings, get_settings

log = get_logger(__name__)

# Act this long before a post enters the scheduling window (SOCIALCAL_SCHEDULE_MAX_DAYS, inside Meta's),
# so it is handed over as soon as allowed.
WINDOW_MARGIN = timedelta(hours=1)
EDITABLE_ON_PAGE = frozenset({PostStatus.SCHEDULED, PostStatus.PUBLISHED, PostStatus.PLATFORM_DRAFT})


@dataclass(frozen=True)
class Decision:
    post_id: str
    accepted: bool
    status: str
    reason: str | None = None


def current_hash(post: SocialPost, *, message: str | None = None) -> str:
    return content_hash(content_type=post.content_type, message=post.message if message is None else message,
                        link=post.link, media=post.media, integration_id=post.integration_id)


def scheduling_window(settings: Settings | None = None) -> timedelta:
    """How far ahead a post is handed to Meta as a scheduled post (``SOCIALCAL_SCHEDULE_MAX_DAYS``)."""
    return timedelta(days=(settings or get_settings()).schedule_max_days)


def first_due_at(post: SocialPost, tenant: Tenant, now: datetime, settings: Settings | None = None) -> datetime:
    """When dispatch should first try the post: now, or when it enters the window, or its slot (live)."""
    if post.scheduled_at is None:
        return now
    if tenant.auto_publish:
        return max(now, post.scheduled_at)
    return max(now, post.scheduled_at - scheduling_window(settings) + WINDOW_MARGIN)


def lock_post(session: Session, post_id: str) -> SocialPost:
    """The post, row-locked for this transaction, with its ids bound to the task's log lines."""
    post = session.get(SocialPost, post_id, with_for_update=True)
    if post is None:
        raise BadMessage(f"no post {post_id}")
    bind_log_context(tenant_id=post.tenant_id, post_id=post.id)
    return post


def approve(session: Session, post_id: str, approver: str, shown_hash: str, *, now: datetime | None = None) -> Decision:
    now = now or utcnow()
    post = lock_post(session, post_id)
    if post.pending_message is not None and post.status in EDITABLE_ON_PAGE:
        return _approve_edit(session, post, approver, shown_hash)
    if post.status == PostStatus.APPROVED and post.approved_hash == shown_hash:
        return Decision(post.id, True, post.status, "already approved")
    if post.status != PostStatus.PENDING_APPROVAL:
        return _refuse(session, post, approver, f"post is {post.status}, not pending_approval")
    if shown_hash != post.content_hash or shown_hash != current_hash(post):
        return _refuse(session, post, approver, "content changed since it was shown; review it again")
    tenant = session.get(Tenant, post.tenant_id)
    assert tenant is not None
    post.status = PostStatus.APPROVED
    post.approved_hash, post.approved_by, post.approved_at = shown_hash, approver, now
    post.due_at = first_due_at(post, tenant, now)
    record_event(session, post, "approved", actor=approver, content_hash=shown_hash)
    if post.due_at <= now:
        post.enqueued_at = now
        enqueue(session, TaskName.PUBLISH_POST, post.id)
    log.info("post_approved", approver=approver, due_at=post.due_at.isoformat())
    return Decision(post.id, True, post.status)


def _approve_edit(session: Session, post: SocialPost, approver: str, shown_hash: str) -> Decision:
    if shown_hash != current_hash(post, message=post.pending_message):
        return _refuse(session, post, approver, "the edited message changed since it was shown; review it again")
    post.approved_hash, post.approved_by, post.approved_at = shown_hash, approver, utcnow()
    record_event(session, post, "edit_approved", actor=approver, content_hash=shown_hash)
    enqueue(session, TaskName.UPDATE_MESSAGE, post.id, post.pending_message)
    return Decision(post.id, True, post.status, "edit approved")


def reject(session: Session, post_id: str, approver: str, reason: str) -> Decision:
    post = lock_post(session, post_id)
    if not reason or not reason.strip():
        return _refuse(session, post, approver, "a rejection needs a reason")
    if post.status not in (PostStatus.PENDING_APPROVAL, PostStatus.APPROVED, PostStatus.INVALID):
        return _refuse(session, post, approver, f"post is {post.status}; it can no longer be rejected")
    post.status = PostStatus.REJECTED
    post.due_at = None
    record_event(session, post, "rejected", actor=approver, reason=reason.strip())
    return Decision(post.id, True, post.status)


def _refuse(session: Session, post: SocialPost, actor: str, reason: str) -> Decision:
    record_event(session, post, "decision_refused", actor=actor, reason=reason)
    log.info("decision_refused", reason=reason)
    return Decision(post.id, False, post.status, reason)
