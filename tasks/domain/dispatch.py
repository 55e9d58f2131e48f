"""The due sweeper: the database is the source of truth and the broker only carries wake-ups.

Beat runs ``dispatch_due`` every minute. It re-sends what Redis may have lost (a flush, a restart, a
dead worker): approved posts that are due and were never sent or whose wake-up should have run a
while ago (``redispatch_after_seconds``), and ``publishing`` posts whose lease expired under a dead
worker.

``recover_after_start`` is the fast path after a crash: a worker that has just started cannot tell
which wake-ups died with the workers before it (Redis hands a killed worker's unacked messages back
only after the two-hour visibility timeout), so it re-sends every approved post due within the
broker countdown limit, and a wake-up at the moment each ``publishing`` lease expires. Lease expiry
is the only safe fence: a worker that merely looks dead may still be inside a Graph call, and its
lease outlasts that call. Copies are harmless (only one claim can win); ``tasks.domain.recovery``
lets one of several workers starting together re-send the approved posts for all of them.
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
# Seconds after a lease's expiry at which its recovery wake-up runs: clocks of two machines differ a
# little, and a wake-up a moment early would only lose its claim.
EXPIRY_MARGIN_SECONDS = 1.0


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


def recover_after_start(session: Session, now: datetime, settings: Settings, *, approved: bool = True,
                        limit: int = DISPATCH_BATCH) -> dict[str, int]:
    """Re-send, once, everything a dead worker may have held; returns how many of each kind.

    * ``publishing`` posts: a wake-up when the lease expires (now, if it has), so the post is taken
      over as soon as that is safe rather than when the next ``dispatch_due`` notices.
    * ``approved`` posts due before the broker countdown limit, whether or not a wake-up was sent:
      the one sent may be in a dead worker's memory (a countdown) or unacked list.

    Later posts are ``dispatch_due``'s, and so is anything past ``limit`` of each kind.
    ``approved=False`` leaves the approved posts out (another worker has just re-sent them).
    """
    horizon = now + timedelta(seconds=settings.max_broker_countdown_seconds)
    counts = {"approved": 0, "leases": 0}
    leases = (select(SocialPost).where(SocialPost.status == PostStatus.PUBLISHING,
                                       SocialPost.lease_expires_at <= horizon)
              .order_by(SocialPost.lease_expires_at).limit(limit).with_for_update(skip_locked=True))
    for post in session.scalars(leases):
        assert post.lease_expires_at is not None
        wait = (post.lease_expires_at - now).total_seconds()
        enqueue(session, TaskName.PUBLISH_POST, post.id,
                countdown=wait + EXPIRY_MARGIN_SECONDS if wait > -EXPIRY_MARGIN_SECONDS else None)
        counts["leases"] += 1
    if not approved:
        return counts
    due = (select(SocialPost).where(SocialPost.status == PostStatus.APPROVED, SocialPost.due_at <= horizon)
           .order_by(SocialPost.due_at).limit(limit).with_for_update(skip_locked=True))
    for post in session.scalars(due):
        assert post.due_at is not None
        wait = (post.due_at - now).total_seconds()
        post.enqueued_at = max(now, post.due_at)
        enqueue(session, TaskName.PUBLISH_POST, post.id, countdown=wait if wait > 0 else None)
        counts["approved"] += 1
    return counts
