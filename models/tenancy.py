"""Tenants and their connected Pages (integrations)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, id_column, utcnow


class TenantStatus(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"


class IntegrationStatus(StrEnum):
    ACTIVE = "active"
    NEEDS_RECONNECT = "needs_reconnect"
    DISABLED = "disabled"


DEFAULT_CADENCE: dict[str, Any] = {
    "weekdays": [0, 2, 4],  # Monday, Wednesday, Friday
    "times": ["10:00"],
    "posts_per_week": 3,
    "skip_dates": [],
    "content_types": ["text", "link", "photo"],
    "themes": ["tip", "behind the scenes", "announcement", "question"],
}


class Tenant(Base):
    __tablename__ = "tenants"

    id: Mapped[str] = id_column()
    name: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    auto_publish: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16), default=TenantStatus.ACTIVE)
    cadence: Mapped[dict[str, Any]] = mapped_column(default=lambda: dict(DEFAULT_CADENCE))
    # Insight metric names for this tenant's Pages; None means the default set.
    insight_metrics: Mapped[list[Any] | None] = mapped_column(nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    integrations: Mapped[list["Integration"]] = relationship(back_populates="tenant")

    @property
    def is_active(self) -> bool:
        return self.status == TenantStatus.ACTIVE


class Integration(Base):
    """A connected Facebook Page. ``api_key`` is the Page token, Fernet-encrypted; never plaintext."""

    __tablename__ = "integrations"
    __table_args__ = (
        UniqueConstraint("tenant_id", "provider", "external_account_id"),
        Index("ix_integrations_provider_status", "provider", "status"),
    )

    id: Mapped[str] = id_column()
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    provider: Mapped[str] = mapped_column(String(32), default="facebook")
    # The Page id, duplicated from metadata so one Page is connected once per tenant.
    external_account_id: Mapped[str] = mapped_column(String(64))
    api_key: Mapped[str] = mapped_column(Text)
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)
    # This Page's changes to the tenant's cadence (only the keys it overrides); None = the tenant's.
    cadence_override: Mapped[dict[str, Any] | None] = mapped_column(nullable=True)
    status: Mapped[str] = mapped_column(String(24), default=IntegrationStatus.ACTIVE)
    status_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    tenant: Mapped[Tenant] = relationship(back_populates="integrations")

    @property
    def page_id(self) -> str:
        return str(self.meta.get("pageId") or self.external_account_id)

    @property
    def is_active(self) -> bool:
        return self.status == IntegrationStatus.ACTIVE
