"""Insights, post metrics, anomalies and report inputs: the pipeline's second half."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, id_column, utcnow

_BigIntId = BigInteger().with_variant(Integer, "sqlite")
# None is SQL NULL here (not the JSON text 'null'), so "no breakdown" is IS NULL in queries.
_NullableJSON = JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")


class PageInsight(Base):
    """One metric value for one measured day. ``value`` is the number (NULL: unknown, or the value
    was an object); ``breakdown`` keeps a value Graph sent as an object (e.g. the parts of
    ``page_video_views_by_uploaded_hosted``) whole, so nothing Graph said is dropped."""

    __tablename__ = "page_insights"
    __table_args__ = (UniqueConstraint("integration_id", "metric", "period", "end_time"),)

    id: Mapped[int] = mapped_column(_BigIntId, primary_key=True, autoincrement=True)
    integration_id: Mapped[str] = mapped_column(ForeignKey("integrations.id", ondelete="CASCADE"))
    metric: Mapped[str] = mapped_column(String(100))
    period: Mapped[str] = mapped_column(String(16))
    end_time: Mapped[datetime]
    value: Mapped[float | None] = mapped_column(Float, nullable=True)
    breakdown: Mapped[dict[str, Any] | None] = mapped_column(_NullableJSON, nullable=True)
    fetched_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class PostMetric(Base):
    """One reading of a post's engagement; a column Meta left out is NULL (unknown), not zero."""

    __tablename__ = "post_metrics"
    __table_args__ = (Index("ix_post_metrics_post_id_read_at", "post_id", "read_at"),)

    id: Mapped[int] = mapped_column(_BigIntId, primary_key=True, autoincrement=True)
    post_id: Mapped[str] = mapped_column(ForeignKey("social_posts.id", ondelete="CASCADE"))
    integration_id: Mapped[str] = mapped_column(ForeignKey("integrations.id", ondelete="CASCADE"), index=True)
    external_id: Mapped[str] = mapped_column(String(128))
    reactions: Mapped[int | None] = mapped_column(Integer, nullable=True)
    comments: Mapped[int | None] = mapped_column(Integer, nullable=True)
    shares: Mapped[int | None] = mapped_column(Integer, nullable=True)
    media_views: Mapped[int | None] = mapped_column(Integer, nullable=True)
    read_at: Mapped[datetime] = mapped_column(default=utcnow)


class InsightAnomaly(Base):
    __tablename__ = "insight_anomalies"
    __table_args__ = (UniqueConstraint("integration_id", "metric", "day"),)

    id: Mapped[str] = id_column()
    integration_id: Mapped[str] = mapped_column(ForeignKey("integrations.id", ondelete="CASCADE"))
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    metric: Mapped[str] = mapped_column(String(100))
    day: Mapped[date] = mapped_column(Date)
    value: Mapped[float] = mapped_column(Float)
    expected: Mapped[float] = mapped_column(Float)
    score: Mapped[float] = mapped_column(Float)
    direction: Mapped[str] = mapped_column(String(8))  # up | down
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ReportInput(Base):
    __tablename__ = "report_inputs"
    __table_args__ = (UniqueConstraint("tenant_id", "period_start", "period_end"),)

    id: Mapped[str] = id_column()
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
