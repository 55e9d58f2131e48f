"""The audit trail: every decision about a post, and every step publishing takes, as a row."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from models import PostEvent, SocialPost
from worker.redaction import redact


def record_event(session: Session, post: SocialPost, kind: str, *, actor: str | None = None,
                 **detail: Any) -> PostEvent:
    event = PostEvent(post_id=post.id, tenant_id=post.tenant_id, kind=kind, actor=actor,
                      detail=redact({k: v for k, v in detail.items() if v is not None}))
    session.add(event)
    return event
