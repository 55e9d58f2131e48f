"""The sandbox's records: Pages, tokens, posts, photos, videos, and one call's context.

Plain dataclasses, no rules: :mod:`graph.sandbox.store` keeps them, the rules modules change them,
and ``to_dict`` is what tests and the admin API see. Every object ever created is kept (deleted
ones are flagged, not dropped), so tests can count what reached a Page exactly once.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

from graph.sandbox import series
from graph.sandbox.errors import SandboxError

if TYPE_CHECKING:
    from graph.sandbox.faults import FaultRule

DEFAULT_TASKS = ("ADVERTISE", "ANALYZE", "CREATE_CONTENT", "MESSAGING", "MODERATE", "MANAGE")


@dataclass
class PageRecord:
    page_id: str
    name: str
    token: str
    user_token: str | None = None
    anomaly_day: date | None = None
    tasks: tuple[str, ...] = DEFAULT_TASKS
    category: str = "Brand"
    seq: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "page_id": self.page_id,
            "name": self.name,
            "token": self.token,
            "user_token": self.user_token,
            "anomaly": ({"metric": series.ANOMALY_METRIC, "date": self.anomaly_day.isoformat()}
                        if self.anomaly_day else None),
            "tasks": list(self.tasks),
            "category": self.category,
        }


@dataclass
class TokenRecord:
    token: str
    kind: str  # "page" | "user"
    page_id: str | None = None  # page tokens
    user_id: str | None = None  # user tokens
    page_ids: list[str] = field(default_factory=list)  # user tokens: Pages listed by /me/accounts
    revoked: bool = False
    expired: bool = False


@dataclass
class PostRecord:
    id: str
    page_id: str
    kind: str  # status | link | photo | album | video | reel
    message: str | None
    link: str | None
    status: str  # published | scheduled | draft
    scheduled_publish_time: int | None
    created_time: float
    seq: int
    attached_media: list[str] = field(default_factory=list)
    photo_id: str | None = None
    video_id: str | None = None
    published_time: float | None = None
    updated_time: float | None = None
    message_edits: int = 0
    deleted: bool = False
    deleted_time: float | None = None

    @property
    def published(self) -> bool:
        return self.status == "published"

    @property
    def shown_time(self) -> float:
        """What Graph shows as ``created_time``: the publish time once a post is live."""
        return self.published_time if self.published and self.published_time else self.created_time

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["published"] = self.published
        return data


@dataclass
class PhotoRecord:
    id: str
    page_id: str
    url: str
    caption: str | None
    alt_text: str | None
    published: bool
    temporary: bool
    scheduled_publish_time: int | None
    created_time: float
    post_id: str | None = None  # the photo's own post (published or scheduled photo)
    attached_to: str | None = None  # the /feed post it was attached to (albums)
    deleted: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class VideoRecord:
    id: str
    page_id: str
    kind: str  # video | reel
    file_url: str | None
    description: str | None
    title: str | None
    created_time: float
    uploaded_time: float | None = None
    post_id: str | None = None
    finished: bool = False
    deleted: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class CallContext:
    """What :meth:`SandboxState.begin_call` decided about one call, for the router."""

    method: str
    kind: str
    token: TokenRecord | None = None
    page_id: str | None = None
    error: SandboxError | None = None
    fault: FaultRule | None = None
    headers: dict[str, str] = field(default_factory=dict)

