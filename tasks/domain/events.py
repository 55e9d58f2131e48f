"""The audit trail: every decision about a post, and every step publishing takes, as a row."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from models import PostEvent, SocialPost
from worker.core.redaction import redact


def record_event(session: Session, post: SocialPost, kind: str, *, actor: str | None = None,
                 **detail: Any) -> PostEvent:
    return record_post_event(session, post.id, post.tenant_id, kind, actor=actor, **detail)


def record_post_event(session: Session, post_id: str, tenant_id: str, kind: str, *, actor: str | None = None,
                      **detail: Any) -> PostEvent:
    """The same, by ids: publishing writes its events in the transaction of its fenced update."""
    event = PostEvent(post_id=post_id, tenant_id=tenant_id, kind=kind, actor=actor,
                      detail=redact({k: v for k, v in detail.items() if v is not None}))
    session.add(event)
    return event
