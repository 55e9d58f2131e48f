"""The due sweeper: the database is the source of truth and the broker only carries wake-ups.

Beat runs ``dispatch_due`` every minute. It re-sends what Redis may have lost (a flush, a restart, a
dead worker): approved posts that are due and were never sent or were sent too long ago, and
``publishing`` posts whose lease expired under a dead worker.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from models import PostStatus, SocialPost
from tasks.domain.messaging import enqueue
from worker.core.queues import TaskName
from worker.core.settings import Settings

DISPATCH_BATCH = 500


def dispatch_due(session: Session, now: datetime, settings: Settings) -> dict[str, int]:
    """Queue approved posts that are due (or whose wake-up was lost) and expired publishing leases.

    Rows are locked with SKIP LOCKED on PostgreSQL so two beats split the work instead of doubling
    it; even a double send is harmless, because only one claim can win.
    """
    stale = now - timedelta(seconds=settings.redispatch_after_seconds)
    query = (select(SocialPost).where(or_(
        and_(SocialPost.status == PostStatus.APPROVED, SocialPost.due_at <= now,
             or_(SocialPost.enqueued_at.is_(None), SocialPost.enqueued_at < stale)),
        and_(SocialPost.status == PostStatus.PUBLISHING, SocialPost.due_at <= now,
             SocialPost.lease_expires_at < now),
    )).order_by(SocialPost.due_at).limit(DISPATCH_BATCH).with_for_update(skip_locked=True))
    counts = {"approved": 0, "expired_leases": 0}
    for post in session.scalars(query):
        counts["approved" if post.status == PostStatus.APPROVED else "expired_leases"] += 1
        post.enqueued_at = now
        if post.status == PostStatus.PUBLISHING:
            post.due_at = now + timedelta(seconds=settings.redispatch_after_seconds)
        enqueue(session, TaskName.PUBLISH_POST, post.id)
    return counts
