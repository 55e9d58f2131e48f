"""Driving the HITL path the way the UI and writer do: intake, approve, and reading the outcome."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import inspect as sa_inspect

from models import PostEvent, SocialPost
from models.db import transaction
from tasks.domain.approval import approve
from tasks.domain.intake import intake


def future(days: float = 2.0) -> str:
    return (datetime.now(timezone.utc) + timedelta(days=days)).replace(microsecond=0).isoformat()


def write_post(tenant_id: str, message: str, *, when: str | None = None, **extra: Any) -> str:
    payload = {"tenant_id": tenant_id, "platform": "facebook", "message": message,
               "scheduled_at": when or future(), **extra}
    with transaction() as session:
        result = intake(session, payload)
    assert not result.reasons, result.reasons
    return result.post_id


def approve_post(post_id: str, approver: str = "ann") -> None:
    with transaction() as session:
        post = session.get(SocialPost, post_id)
        assert post is not None
        decision = approve(session, post_id, approver, post.content_hash or "")
    assert decision.accepted, decision.reason


def post_row(post_id: str) -> SocialPost:
    with transaction() as session:
        post = session.get(SocialPost, post_id)
        assert post is not None
        session.expunge(post)
        return post


def row_values(post_id: str) -> dict[str, Any]:
    """Every column of the post's row: compare two of these to show a message changed nothing."""
    with transaction() as session:
        post = session.get(SocialPost, post_id)
        assert post is not None
        return {attr.key: getattr(post, attr.key) for attr in sa_inspect(SocialPost).column_attrs}


def aware(moment: datetime) -> datetime:
    """A stored time as aware UTC (SQLite hands back naive UTC, PostgreSQL an aware time)."""
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def events(post_id: str) -> list[str]:
    with transaction() as session:
        return [e.kind for e in session.query(PostEvent).filter_by(post_id=post_id).order_by(PostEvent.id)]


def live_posts(sandbox: Any, page_id: str) -> list[dict[str, Any]]:
    """Every post the sandbox Page holds (not deleted): what a person would see in Business Suite."""
    return [p for p in sandbox.objects(page_id)["posts"] if not p["deleted"]]


def assert_exactly_once(sandbox: Any, page_id: str, messages: list[str]) -> None:
    on_page = [p["message"] for p in live_posts(sandbox, page_id)]
    assert sorted(on_page) == sorted(messages), f"on page: {sorted(on_page)}; expected {sorted(messages)}"
