"""The messages socialcal sends to the agents' queues, and the writer output it takes back.

These models describe what the domain builds (``planning.writer_request``, ``reports.report_payload``,
``anomalies.anomaly_payload``); tests validate every message the domain sends against them and the
exported files, so a change to a message without its schema fails CI. Every message carries
``schema_version`` (added by ``messaging.send_to_agent``); within one version fields are only ever
added, so an agent ignores fields it does not know.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from models import ContentType
from worker.core.queues import AGENT_MESSAGE_NAMES, Queue

VERSION = 1
ContentTypeName = Literal[tuple(c.value for c in ContentType)]  # type: ignore[valid-type]


class Message(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: ClassVar[str]
    version: ClassVar[int] = VERSION
    schema_version: Literal[1] = Field(description="The version of this message's schema (added on sending).")


class WriterRequest(Message):
    """Write one post for a slot; answer with ``posts.intake`` (payload: ``posts.intake.payload``)."""

    name = AGENT_MESSAGE_NAMES[Queue.AGENT_POST_WRITER]
    tenant_id: str = Field(json_schema_extra={"format": "uuid"})
    slot_id: str = Field(json_schema_extra={"format": "uuid"})
    # Added by the multi-Page work (one slot per Page); optional until every sender carries them.
    integration_id: str | None = Field(default=None, json_schema_extra={"format": "uuid"},
                                       description="The Page integration the post is for.")
    page_id: str | None = Field(default=None, description="The Facebook Page id.")
    page_name: str | None = Field(default=None, description="The Page's name, for the writer's voice.")
    scheduled_at: datetime = Field(description="When the post goes out (UTC).")
    local_time: datetime = Field(description="The same instant in the tenant's time zone.")
    timezone: str = Field(description="The tenant's IANA time zone.")
    content_type: ContentTypeName
    theme: str | None = None
    platform: Literal["facebook"] = "facebook"


class MetricSummary(BaseModel):
    aggregation: Literal["sum", "last"]
    total: float | None
    previous_total: float | None
    change: float | None
    change_percent: float | None
    days_with_data: int
    missing_days: list[date]


class TopPost(BaseModel):
    post_id: str
    external_id: str | None
    publish_url: str | None
    published_at: datetime | None
    content_type: str
    message: str = Field(description="The first 200 characters.")
    reactions: int | None
    comments: int | None
    shares: int | None
    media_views: int | None
    engagement: int | None
    read_at: datetime


class AnomalyEntry(BaseModel):
    metric: str
    day: date
    value: float
    expected: float
    score: float
    direction: Literal["up", "down"]


class Missing(BaseModel):
    metrics_without_data: list[str]
    metrics_with_missing_days: list[str]
    dropped_metrics: list[str]
    posts_without_metrics: int


class PageReport(BaseModel):
    integration_id: str
    page_id: str
    page_name: str | None
    status: str
    metrics: dict[str, MetricSummary]
    top_posts: list[TopPost]
    anomalies: list[AnomalyEntry]
    missing: Missing
    breakdowns: dict[str, dict[date, Any]] = Field(
        default_factory=dict,
        description="Metrics Graph sent as objects (a breakdown, e.g. by type), not totalled: "
                    "{metric: {measured day: the object as Graph sent it}}.")


class Period(BaseModel):
    start: date
    end: date
    days: int | None = None


class ReportInput(Message):
    """The report writer's input: per Page, a period compared with the one before (``report_inputs``)."""

    name = AGENT_MESSAGE_NAMES[Queue.AGENT_REPORT_WRITER]
    report_input_id: str = Field(json_schema_extra={"format": "uuid"})
    tenant_id: str = Field(json_schema_extra={"format": "uuid"})
    tenant_name: str
    period: Period
    previous_period: Period
    pages: list[PageReport]


class AnomalyFound(Message):
    """One new anomaly in a Page's daily insights."""

    name = AGENT_MESSAGE_NAMES[Queue.AGENT_ANOMALY_DETECTOR]
    tenant_id: str = Field(json_schema_extra={"format": "uuid"})
    integration_id: str = Field(json_schema_extra={"format": "uuid"})
    page_id: str
    metric: str
    day: date
    value: float
    expected: float
    score: float
    direction: Literal["up", "down"]


class MediaItem(BaseModel):
    model_config = ConfigDict(extra="allow")
    url: str = Field(json_schema_extra={"format": "uri", "pattern": "^https://"})
    type: Literal["image", "video"]
    alt_text: str | None = None


class WriterOutput(BaseModel):
    """What the writer answers (``posts.intake``'s payload, and ``socialcal intake FILE``).

    Output that does not match is not refused: it is stored as an ``invalid`` post with every reason
    (output naming no tenant is kept in ``failed_jobs``). Text may not hold NUL, control characters
    other than tab/newline/CR, or lone surrogates (socialcal never changes a person's copy).
    The post's time and Page come from its slot; without ``slot_id`` it needs ``scheduled_at`` and,
    when the tenant has more than one active Page, ``integration_id``.
    """

    model_config = ConfigDict(extra="allow", title="posts.intake payload")
    name: ClassVar[str] = "posts.intake.payload"
    version: ClassVar[int] = VERSION
    tenant_id: str = Field(json_schema_extra={"format": "uuid"})
    slot_id: str | None = Field(default=None, json_schema_extra={"format": "uuid"})
    platform: Literal["facebook"] = "facebook"
    message: str | None = Field(default=None, max_length=63_206)
    link: str | None = Field(default=None, json_schema_extra={"format": "uri", "pattern": "^https://"})
    media: list[MediaItem] = Field(default_factory=list, max_length=10)
    content_type: ContentTypeName | None = None
    writer_run_id: str | int | None = Field(default=None, description="Cut to 128 characters.")
    integration_id: str | None = Field(default=None, json_schema_extra={"format": "uuid"})
    scheduled_at: datetime | None = Field(default=None, description="ISO 8601 with a UTC offset.")


AGENT_MESSAGES: dict[Queue, type[Message]] = {
    Queue.AGENT_POST_WRITER: WriterRequest,
    Queue.AGENT_REPORT_WRITER: ReportInput,
    Queue.AGENT_ANOMALY_DETECTOR: AnomalyFound,
}
INCOMING_MESSAGES: tuple[type[Any], ...] = (WriterOutput,)
