"""The claim and the approval gate: which worker may publish a post, and whether it may be published.

DESIGN.md rule 1 (approval is a gate, not a flag) and the first half of rule 3: one conditional UPDATE
claims the post under a lease, so however many copies of a ``publish_post`` message arrive exactly one
worker proceeds; the winner then re-checks the approval at run time.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from models import Integration, PostStatus, SocialPost, Tenant, utcnow
from tasks.domain.approval import current_hash
from tasks.domain.events import record_event
from tasks.domain.publish_store import claim_post
from worker.core.logging import get_logger
from worker.core.settings import Settings

log = get_logger(__name__)

REFUSABLE = frozenset({PostStatus.PENDING_APPROVAL, PostStatus.REJECTED, PostStatus.INVALID, PostStatus.CANCELLED,
                       PostStatus.FAILED})


class GateRefused(Exception):
    """The approval gate refused the post at run time; nothing was sent to Facebook."""

    hint = "Review the post and approve it again, then `socialcal jobs requeue` this job."


def new_lease_owner(task_id: str | None) -> str:
    return f"{task_id or 'local'}:{uuid.uuid4().hex[:8]}"


def claim(session: Session, post_id: str, owner: str, settings: Settings, now: datetime | None = None) -> bool:
    """One conditional UPDATE: exactly one worker wins, whatever the number of copies of the message."""
    now = now or utcnow()
    lease_until = now + timedelta(seconds=settings.publish_lease_seconds)
    if claim_post(session, post_id, owner, now, lease_until):  # built once: tasks.domain.publish_store
        return True
    post = session.get(SocialPost, post_id)
    if post is not None and post.status in REFUSABLE:
        # A publish message for a post nobody approved (forged, stale or replayed): audit it.
        record_event(session, post, "publish_refused", reason=f"post is {post.status}, not approved")
        log.warning("publish_refused", post_id=post_id, status=post.status)
    return False


def approval_problem(post: SocialPost, integration: Integration | None) -> str | None:
    """Why this post may never be published as it is (approval, content, Page ownership), or None."""
    if not post.approved_by or not post.approved_hash:
        return "post has no recorded approval"
    if post.approved_hash != post.content_hash or post.approved_hash != current_hash(post):
        return "content differs from what was approved"
    if integration is None:
        return "post has no Facebook Page"
    if integration.tenant_id != post.tenant_id:
        return "the Page belongs to another tenant"
    if integration.provider != "facebook":
        return f"integration provider is {integration.provider}, not facebook"
    return None


def status_problem(tenant: Tenant | None, integration: Integration | None) -> str | None:
    """Why the tenant or Page cannot publish now (checked after ``tasks.domain.holds.hold_reason``,
    so what is left here fails the post: a missing tenant, a Page that needs reconnecting)."""
    if tenant is None or not tenant.is_active:
        return "tenant is not active"
    if integration is not None and not integration.is_active:
        return f"the Page's integration is {integration.status}: reconnect it with `socialcal facebook connect`"
    return None


def gate_problem(post: SocialPost, tenant: Tenant | None, integration: Integration | None) -> str | None:
    """Why this post must not be published now, or None. Checked after every claim."""
    return approval_problem(post, integration) or status_problem(tenant, integration)
