"""Publishing tasks. The logic is in ``tasks.publisher``; this module maps outcomes and Graph errors to
what happens next (DESIGN.md rule 4): wait for a throttled scope, back off on transient errors,
reconcile after ambiguous ones, fail fast on auth, permission and validation errors.

Long waits are never handed to the broker: the post goes back to ``approved`` with ``due_at`` set,
and ``dispatch_due`` (beat, every minute) sends it again when that time comes.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select, update

from graph.errors import GraphError, RateLimited
from graph.factory import client_for_integration
from models import Integration, PostStatus, SocialPost, utcnow
from models.db import transaction
from tasks.approval import current_hash, lock_post
from tasks.events import record_event
from tasks.integrations import RECONNECT_HINT, mark_needs_reconnect
from tasks.publisher import GateRefused, LeaseLost, OutcomeUnknown, Publisher, ReelNotReady, new_lease_owner
from worker.app import app
from worker.base import BadMessage, SocialcalTask, bind, enqueue, require_uuid
from worker.logging import get_logger
from worker.retry_policy import broker_countdown, decide
from worker.settings import get_settings

log = get_logger(__name__)
DISPATCH_BATCH = 500
AMBIGUOUS_RECHECK_SECONDS = 5.0


@app.task(name="publishing.publish_post", base=SocialcalTask, bind=True)
def publish_post(self: SocialcalTask, post_id: Any, **_unknown: Any) -> dict[str, Any]:
    post_id = require_uuid(post_id, "post_id")
    bind(post_id=post_id)
    settings = get_settings()
    publisher = Publisher(post_id, new_lease_owner(self.request.id), settings,
                          lambda integration: client_for_integration(integration, purpose="publish", settings=settings))
    if not publisher.claim_and_load():
        log.info("publish_claim_lost")
        return {"post_id": post_id, "status": "skipped"}
    try:
        outcome = publisher.run()
    except LeaseLost:
        log.warning("publish_lease_lost")
        return {"post_id": post_id, "status": "lease_lost"}
    except (GateRefused, OutcomeUnknown):
        raise  # already recorded on the post; the base class writes the failed_jobs row
    except ReelNotReady:
        _retry_soon(self, publisher, 30.0, "Reel still processing")
        return {"post_id": post_id, "status": "waiting"}
    except GraphError as error:
        _handle_graph_error(self, publisher, error)  # raises, or releases the post with a due time
        return {"post_id": post_id, "status": "waiting", "error": type(error).__name__}
    return {"post_id": post_id, "status": outcome.status, "external_id": outcome.external_id}


def _handle_graph_error(task: SocialcalTask, publisher: Publisher, error: GraphError) -> None:
    settings = publisher.settings
    snap = publisher.snap
    attempts = int((snap.intent.get("transient_attempts") if snap else 0) or 0)
    decision = decide(error, attempt=attempts, now=time.time(), deadline=None, settings=settings)
    log.info("publish_error", error_class=type(error).__name__, code=error.code, action=decision.action,
             delay=round(decision.delay, 1), reason=decision.reason)
    if decision.action == "reconnect":
        if snap is not None:
            mark_needs_reconnect(snap.integration.id, error)
        publisher.fail(f"{error} — {RECONNECT_HINT}", kind="failed")
        raise error
    if decision.action == "fail":
        publisher.fail(str(error))
        raise error
    if decision.spends_attempt and snap is not None:
        snap.intent["transient_attempts"] = attempts + 1
    delay = AMBIGUOUS_RECHECK_SECONDS if decision.action == "reconcile" else decision.delay
    reason = decision.reason if not isinstance(error, RateLimited) else f"throttled ({decision.reason})"
    _retry_soon(task, publisher, delay, reason, error=str(error), refund_attempt=isinstance(error, RateLimited))


def _retry_soon(task: SocialcalTask, publisher: Publisher, delay: float, reason: str, error: str | None = None,
                refund_attempt: bool = False) -> None:
    """Release the post with a due time; wake it with a short countdown, or leave it to dispatch_due."""
    due = utcnow() + timedelta(seconds=delay)
    try:
        publisher.release(due_at=due, reason=reason, error=error, refund_attempt=refund_attempt)
    except LeaseLost:
        return
    countdown = broker_countdown(delay, publisher.settings)
    if countdown is not None:
        # A fresh message rather than task.retry(): the database holds the attempt count. Marked as
        # enqueued so dispatch_due does not send a second wake-up for the same wait.
        with transaction() as session:
            session.execute(update(SocialPost).where(SocialPost.id == publisher.post_id,
                                                     SocialPost.status == PostStatus.APPROVED)
                            .values(enqueued_at=utcnow()).execution_options(synchronize_session=False))
        app.send_task("publishing.publish_post", args=[publisher.post_id], countdown=max(countdown, 0.5))


# ------------------------------------------------------------------------------- the due sweeper

def dispatch_due(session: Any, now: datetime, settings: Any) -> dict[str, int]:
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
        enqueue(session, "publishing.publish_post", post.id)
    return counts


@app.task(name="publishing.dispatch_due", base=SocialcalTask, bind=True)
def dispatch_due_task(self: SocialcalTask, **_unknown: Any) -> dict[str, int]:
    with self.transaction() as session:
        counts = dispatch_due(session, utcnow(), get_settings())
    if any(counts.values()):
        log.info("dispatched", **counts)
    return counts


# ------------------------------------------------------------------------------- changes after approval

def _client_for(session: Any, post: SocialPost) -> Any:
    integration = session.get(Integration, post.integration_id)
    if integration is None or integration.tenant_id != post.tenant_id:
        raise BadMessage("post has no Page of its own tenant")
    return client_for_integration(integration, purpose="publish")


@app.task(name="publishing.reschedule_post", base=SocialcalTask, bind=True)
def reschedule_post(self: SocialcalTask, post_id: Any, scheduled_at: Any, **_unknown: Any) -> dict[str, Any]:
    from tasks.approval import first_due_at
    from tasks.post_content import parse_time
    from models import Tenant

    post_id = require_uuid(post_id, "post_id")
    when, problem = parse_time(scheduled_at, "scheduled_at")
    if problem or when is None:
        raise BadMessage(problem or "scheduled_at missing")
    with self.transaction() as session:
        post = lock_post(session, post_id)
        if post.status == PostStatus.PUBLISHING:
            raise self.retry(countdown=30, max_retries=20)  # let the running publish finish first
        if post.status == PostStatus.SCHEDULED and post.external_id:
            try:
                _client_for(session, post).reschedule_post(post.external_id, when)
            except GraphError as error:
                self.retry_for(error, integration_id=post.integration_id)
        elif post.status not in (PostStatus.PENDING_APPROVAL, PostStatus.APPROVED, PostStatus.INVALID):
            raise BadMessage(f"post is {post.status}; it cannot be rescheduled")
        old = post.scheduled_at
        post.scheduled_at = when
        if post.status == PostStatus.APPROVED:
            post.due_at = first_due_at(post, session.get(Tenant, post.tenant_id), utcnow())
            post.enqueued_at = None
        record_event(session, post, "rescheduled", old=old.isoformat() if old else None, new=when.isoformat())
        return {"post_id": post.id, "status": post.status, "scheduled_at": when.isoformat()}


@app.task(name="publishing.cancel_post", base=SocialcalTask, bind=True)
def cancel_post(self: SocialcalTask, post_id: Any, **_unknown: Any) -> dict[str, Any]:
    post_id = require_uuid(post_id, "post_id")
    with self.transaction() as session:
        post = lock_post(session, post_id)
        if post.status == PostStatus.CANCELLED:
            return {"post_id": post.id, "status": post.status}
        if post.status == PostStatus.PUBLISHING:
            raise self.retry(countdown=30, max_retries=20)
        deleted = None
        if post.external_id and post.status in (PostStatus.SCHEDULED, PostStatus.PUBLISHED, PostStatus.PLATFORM_DRAFT):
            try:
                deleted = _client_for(session, post).delete_post(post.external_id)
            except GraphError as error:
                self.retry_for(error, integration_id=post.integration_id)
        post.status = PostStatus.CANCELLED
        post.due_at = None
        record_event(session, post, "cancelled", deleted_on_page=deleted)
        return {"post_id": post.id, "status": post.status, "deleted_on_page": deleted}


@app.task(name="publishing.update_message", base=SocialcalTask, bind=True)
def update_message(self: SocialcalTask, post_id: Any, message: Any, **_unknown: Any) -> dict[str, Any]:
    """Propose a new text for a post on the Page; once that exact text is approved, apply it."""
    post_id = require_uuid(post_id, "post_id")
    if not isinstance(message, str) or not message.strip():
        raise BadMessage("message: expected non-empty text")
    with self.transaction() as session:
        post = lock_post(session, post_id)
        if post.status not in (PostStatus.SCHEDULED, PostStatus.PUBLISHED, PostStatus.PLATFORM_DRAFT):
            raise BadMessage(f"post is {post.status}; edit it through intake and approval instead")
        edited_hash = current_hash(post, message=message)
        if post.pending_message != message or post.approved_hash != edited_hash:
            post.pending_message = message
            record_event(session, post, "edit_proposed", content_hash=edited_hash)
            return {"post_id": post.id, "status": "awaiting_approval", "content_hash": edited_hash}
        try:
            _client_for(session, post).update_message(post.external_id, message)
        except GraphError as error:
            self.retry_for(error, integration_id=post.integration_id)
        post.message, post.pending_message = message, None
        post.content_hash = edited_hash
        record_event(session, post, "message_updated", content_hash=edited_hash)
        return {"post_id": post.id, "status": post.status, "content_hash": edited_hash}

