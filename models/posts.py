"""Calendars, slots, posts and the audit trail of every decision about a post."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, id_column, utcnow


class PostStatus(StrEnum):
    PENDING_APPROVAL = "pending_approval"
    APPROVED = "approved"
    PUBLISHING = "publishing"
    SCHEDULED = "scheduled"
    PUBLISHED = "published"
    PLATFORM_DRAFT = "platform_draft"
    REJECTED = "rejected"
    INVALID = "invalid"
    FAILED = "failed"
    CANCELLED = "cancelled"


# Statuses in which the post exists on Facebook (or may: publishing holds a lease mid-call).
ON_PAGE_STATUSES = frozenset({PostStatus.SCHEDULED, PostStatus.PUBLISHED, PostStatus.PLATFORM_DRAFT})
FINAL_STATUSES = frozenset(ON_PAGE_STATUSES | {PostStatus.REJECTED, PostStatus.INVALID, PostStatus.FAILED,
                                               PostStatus.CANCELLED})


class ContentType(StrEnum):
    TEXT = "text"
    LINK = "link"
    PHOTO = "photo"
    ALBUM = "album"
    VIDEO = "video"
    REEL = "reel"


class SocialCalendar(Base):
    """One Page's month: the unique (integration, month) row is the planning lock.

    ``integration_id`` is NULL only for calendars planned tenant-wide before calendars were per Page
    (migration 0002 binds those of single-Page tenants); the planner leaves such a month alone.
    ``planning_notes`` says how the month was planned: the cadence used and which times were chosen
    and why (configured times, or the Page's best times and from how many posts).
    """

    __tablename__ = "social_calendars"
    __table_args__ = (UniqueConstraint("integration_id", "month"),
                      Index("ix_social_calendars_tenant_id_month", "tenant_id", "month"))

    id: Mapped[str] = id_column()
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    integration_id: Mapped[str | None] = mapped_column(ForeignKey("integrations.id", ondelete="CASCADE"),
                                                       nullable=True)
    month: Mapped[str] = mapped_column(String(7))  # YYYY-MM
    planning_notes: Mapped[dict[str, Any] | None] = mapped_column(nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    slots: Mapped[list["CalendarSlot"]] = relationship(back_populates="calendar", order_by="CalendarSlot.scheduled_at")


class CalendarSlot(Base):
    __tablename__ = "calendar_slots"
    __table_args__ = (UniqueConstraint("calendar_id", "scheduled_at"),)

    id: Mapped[str] = id_column()
    calendar_id: Mapped[str] = mapped_column(ForeignKey("social_calendars.id", ondelete="CASCADE"))
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    # The Page the slot is for (its calendar's); NULL only on legacy tenant-wide slots.
    integration_id: Mapped[str | None] = mapped_column(ForeignKey("integrations.id", ondelete="CASCADE"),
                                                       nullable=True, index=True)
    scheduled_at: Mapped[datetime]
    content_type: Mapped[str] = mapped_column(String(16))
    theme: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    calendar: Mapped[SocialCalendar] = relationship(back_populates="slots")


class SocialPost(Base):
    __tablename__ = "social_posts"
    __table_args__ = (
        # One index serves both sweeps of dispatch_due: approved posts whose due_at has come, and
        # publishing posts whose lease (kept in due_at) has expired.
        Index("ix_social_posts_status_due_at", "status", "due_at"),
        Index("ix_social_posts_tenant_id_status", "tenant_id", "status"),
        # Approved posts due soon that are not on Facebook yet (`socialcal status`, metrics).
        Index("ix_social_posts_status_scheduled_at", "status", "scheduled_at"),
        UniqueConstraint("slot_id"),
    )

    id: Mapped[str] = id_column()
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    integration_id: Mapped[str | None] = mapped_column(ForeignKey("integrations.id", ondelete="SET NULL"),
                                                       nullable=True)
    slot_id: Mapped[str | None] = mapped_column(ForeignKey("calendar_slots.id", ondelete="SET NULL"), nullable=True)
    platform: Mapped[str] = mapped_column(String(32), default="facebook")
    content_type: Mapped[str] = mapped_column(String(16), default=ContentType.TEXT)
    message: Mapped[str | None] = mapped_column(Text, nullable=True)
    # A new message for a post already on Facebook, waiting for its own approval.
    pending_message: Mapped[str | None] = mapped_column(Text, nullable=True)
    link: Mapped[str | None] = mapped_column(Text, nullable=True)
    media: Mapped[list[Any]] = mapped_column(default=list)
    scheduled_at: Mapped[datetime | None] = mapped_column(nullable=True)
    status: Mapped[str] = mapped_column(String(24), default=PostStatus.PENDING_APPROVAL)
    content_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # Hash of the writer payload as received, so the same output delivered twice is one post.
    payload_hash: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    writer_run_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    invalid_reasons: Mapped[list[Any] | None] = mapped_column(nullable=True)
    approved_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    approved_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    approved_at: Mapped[datetime | None] = mapped_column(nullable=True)
    # When dispatch_due should next look at the post: the time an approved post becomes sendable,
    # or the lease expiry of a publishing post.
    due_at: Mapped[datetime | None] = mapped_column(nullable=True)
    enqueued_at: Mapped[datetime | None] = mapped_column(nullable=True)
    lease_owner: Mapped[str | None] = mapped_column(String(128), nullable=True)
    lease_expires_at: Mapped[datetime | None] = mapped_column(nullable=True)
    # What publishing set out to do (mode, time, message hash) before the first Graph call.
    publish_intent: Mapped[dict[str, Any] | None] = mapped_column(nullable=True)
    # Every id Graph returned on the way (photo ids, video id, unpublished post id).
    graph_ids: Mapped[dict[str, Any]] = mapped_column(default=dict)
    publish_mode: Mapped[str | None] = mapped_column(String(16), nullable=True)
    external_id: Mapped[str | None] = mapped_column(String(128), nullable=True, index=True)
    publish_url: Mapped[str | None] = mapped_column(Text, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    # Why an approved post is held back by an operator's decision (tenant paused, Page disconnected);
    # cleared when the post passes the gate again. Nothing is lost: resume or reconnect sends it.
    hold_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    published_at: Mapped[datetime | None] = mapped_column(nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    events: Mapped[list["PostEvent"]] = relationship(back_populates="post", order_by="PostEvent.id")


class PostEvent(Base):
    """Append-only audit trail: who decided what about a post, and what publishing did."""

    __tablename__ = "post_events"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                    autoincrement=True)
    post_id: Mapped[str] = mapped_column(ForeignKey("social_posts.id", ondelete="CASCADE"), index=True)
    tenant_id: Mapped[str] = mapped_column(String(36))
    kind: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str | None] = mapped_column(String(200), nullable=True)
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    post: Mapped[SocialPost] = relationship(back_populates="events")
