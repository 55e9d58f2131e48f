"""The audit trail: every decision about a post, and every step publishing takes, as a row.

Every row is also counted for the metrics (``worker.core.metrics``), once its transaction commits: a
rolled-back decision never happened, so it is never counted. A post reaching the Page (scheduled,
platform draft or live) also records how long it took from its approval.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import PostEvent, SocialPost, utcnow
from models.db import after_commit
from tasks.domain.publish_store import insert_event
from worker.core import metrics
from worker.core.redaction import redact

ON_PAGE_KINDS = frozenset({"scheduled", "published", "platform_draft"})


def record_event(session: Session, post: SocialPost, kind: str, *, actor: str | None = None,
                 **detail: Any) -> PostEvent:
    event = _add(session, post.id, post.tenant_id, kind, actor, detail)
    _count_after_commit(session, post.id, kind, post.status)
    return event


def record_post_event(session: Session, post_id: str, tenant_id: str, kind: str, *, actor: str | None = None,
                      approved_at: datetime | None = None, **detail: Any) -> None:
    """The same, by ids: publishing writes its events in the transaction of its fenced update, with
    one statement built once (``tasks.domain.publish_store``) and the approval time it already read
    at the claim (so putting the post on the Page reads nothing more)."""
    insert_event(session, post_id, tenant_id, kind, redact({k: v for k, v in detail.items() if v is not None}), actor)
    _count_after_commit(session, post_id, kind, None, approved_at)


def _add(session: Session, post_id: str, tenant_id: str, kind: str, actor: str | None,
         detail: dict[str, Any]) -> PostEvent:
    event = PostEvent(post_id=post_id, tenant_id=tenant_id, kind=kind, actor=actor,
                      detail=redact({k: v for k, v in detail.items() if v is not None}))
    session.add(event)
    return event


def _count_after_commit(session: Session, post_id: str, kind: str, status: str | None,
                        approved_at: datetime | None = None) -> None:
    if kind not in ON_PAGE_KINDS:
        approved_at = None
    elif approved_at is None:
        # One primary-key read in the transaction that puts the post on the Page (no extra commit).
        approved_at = session.execute(select(SocialPost.approved_at).where(SocialPost.id == post_id)).scalar()

    def count() -> None:
        metrics.post_event(kind, status)
        if approved_at is not None:
            metrics.approve_to_page(kind, (utcnow() - approved_at).total_seconds())

    after_commit(session, count)
