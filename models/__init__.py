"""SQLAlchemy 2 models, the session/transaction helpers, token encryption and Alembic migrations."""

from models.analytics import InsightAnomaly, PageInsight, PostMetric, ReportInput
from models.base import Base, new_id, utcnow
from models.ops import FailedJob, OutboxMessage
from models.posts import (
    FINAL_STATUSES,
    ON_PAGE_STATUSES,
    CalendarSlot,
    ContentType,
    PostEvent,
    PostStatus,
    SocialCalendar,
    SocialPost,
)
from models.tenancy import (
    DEFAULT_CADENCE,
    Integration,
    IntegrationStatus,
    Tenant,
    TenantStatus,
)

__all__ = [
    "Base", "new_id", "utcnow",
    "Tenant", "TenantStatus", "Integration", "IntegrationStatus", "DEFAULT_CADENCE",
    "SocialCalendar", "CalendarSlot", "SocialPost", "PostEvent", "PostStatus", "ContentType",
    "ON_PAGE_STATUSES", "FINAL_STATUSES",
    "PageInsight", "PostMetric", "InsightAnomaly", "ReportInput", "FailedJob",
    "OutboxMessage",
]
