"""Approved posts held back by an operator's decision: a paused tenant, a disconnected Page.

Such a post is not refused (nothing is wrong with it) and not lost: when the publish gate finds the
tenant paused or the Page disabled, the post goes back to ``approved`` with ``hold_reason`` set and a
due time ``HOLD_RECHECK`` ahead (``dispatch_due`` looks again then, a safety net that needs no
operator), and nothing is sent to Facebook. ``tenant resume`` and reconnecting the Page release the
holds at once: the posts are due now and sent. A post that was mid-call when the operator acted
finishes that call (the gate is checked at claim time, never in the middle of a publish).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models import Integration, IntegrationStatus, PostStatus, SocialPost, Tenant, TenantStatus, utcnow
from tasks.domain.events import record_event
from tasks.domain.messaging import enqueue
from worker.core.logging import get_logger
from worker.core.queues import TaskName

log = get_logger(__name__)

HOLD_RECHECK = timedelta(hours=1)
PAUSED_REASON = "the tenant is paused; `socialcal tenant resume` sends it"
DISCONNECTED_REASON = "the Page is disconnected; reconnect it with `socialcal facebook connect` to send it"


def hold_reason(tenant: Tenant | None, integration: Integration | None) -> str | None:
    """Why an approved post must wait rather than fail, or None."""
    if tenant is not None and tenant.status == TenantStatus.PAUSED:
        return PAUSED_REASON
    if integration is not None and integration.status == IntegrationStatus.DISABLED:
        return DISCONNECTED_REASON
    return None


def hold(session: Session, post: SocialPost, reason: str, now: datetime | None = None) -> None:
    """Hand a claimed post back to ``approved``: it waits with its reason; the claim is not an attempt."""
    now = now or utcnow()
    first = post.hold_reason != reason
    post.status = PostStatus.APPROVED
    post.lease_owner = post.lease_expires_at = post.enqueued_at = None
    post.due_at = now + HOLD_RECHECK
    post.attempts = max(0, (post.attempts or 1) - 1)
    post.hold_reason = reason
    if first:  # the hourly re-check does not fill the audit trail
        record_event(session, post, "publish_held", reason=reason)
    log.info("publish_held", post_id=post.id, reason=reason)


def release_holds(session: Session, *, tenant_id: str | None = None, integration_id: str | None = None,
                  actor: str = "operator", now: datetime | None = None) -> int:
    """Make held posts (of a tenant, or of a Page) due now and send them after commit; returns how many.

    The gate decides again when each one is claimed: a post of a resumed tenant whose Page is still
    disconnected is simply held again, with that reason.
    """
    now = now or utcnow()
    query = select(SocialPost).where(SocialPost.status == PostStatus.APPROVED, SocialPost.hold_reason.is_not(None))
    if tenant_id is not None:
        query = query.where(SocialPost.tenant_id == tenant_id)
    if integration_id is not None:
        query = query.where(SocialPost.integration_id == integration_id)
    posts = list(session.scalars(query.with_for_update()))
    for post in posts:
        post.due_at = post.enqueued_at = now
        record_event(session, post, "hold_released", actor=actor, reason=post.hold_reason)
        enqueue(session, TaskName.PUBLISH_POST, post.id)
    if posts:
        log.info("holds_released", tenant_id=tenant_id, integration_id=integration_id, posts=len(posts))
    return len(posts)


def count_held(session: Session, *, tenant_id: str | None = None, integration_id: str | None = None) -> int:
    query = select(func.count()).select_from(SocialPost).where(
        SocialPost.status == PostStatus.APPROVED, SocialPost.hold_reason.is_not(None))
    if tenant_id is not None:
        query = query.where(SocialPost.tenant_id == tenant_id)
    if integration_id is not None:
        query = query.where(SocialPost.integration_id == integration_id)
    return int(session.scalar(query) or 0)
