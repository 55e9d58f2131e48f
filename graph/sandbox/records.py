"""The sandbox's records: Pages, tokens, posts, photos, videos, and one call's context.

Plain dataclasses, no rules: :mod:`graph.sandbox.store` keeps them, the rules modules change them,
and ``to_dict`` is what tests and the admin API see. Every object ever created is kept (deleted
ones are flagged, not dropped), so tests can count what reached a Page exactly once.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any, Mapping

from graph.sandbox import series
from graph.sandbox.errors import SandboxError

FAULT_MODES = ("error", "apply_then_fail", "drop", "timeout")


@dataclass
class FaultRule:
    """One fault: which calls it matches, how often it fires and what it does.

    ``path`` is a route kind (``feed``, ``photos``, ``videos``, ``video_reels``, ``rupload``,
    ``post``, ``photo``, ``video``, ``page``, ``insights``, ``post_insights``, ``scheduled_posts``,
    ``published_posts``, ``posts``, ``accounts``, ...), several joined by ``|``, or ``*``/None.
    ``burst``: once the rule fires, the next ``burst - 1`` matching calls fire too.
    ``count``: the most times it fires in all (None = unlimited).
    ``after``: matching calls let through untouched before the rule may fire (a Reel's finish is the
    second POST to ``video_reels``; ``after=1`` faults it and not the start).
    """

    method: str | None = None
    path: str | None = None
    rate: float = 1.0
    mode: str = "error"
    code: int = 1
    http_status: int | None = None
    count: int | None = None
    burst: int | None = None
    subcode: int | None = None
    message: str | None = None
    page_id: str | None = None
    seconds: float | None = None  # timeout mode: how long to hold the response
    after: int = 0
    fired: int = 0
    burst_left: int = 0
    passed: int = 0

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> "FaultRule":
        known = {name for name in cls.__dataclass_fields__ if name not in ("fired", "burst_left", "passed")}
        unknown = set(raw) - known
        if unknown:
            raise ValueError(f"unknown fault rule keys: {sorted(unknown)}")
        rule = cls(**{key: raw[key] for key in raw})
        if rule.mode not in FAULT_MODES:
            raise ValueError(f"fault mode must be one of {FAULT_MODES}, got {rule.mode!r}")
        if not 0.0 <= float(rule.rate) <= 1.0:
            raise ValueError("fault rate must be within 0..1")
        return rule

    def matches(self, method: str, kind: str, page_id: str | None) -> bool:
        if self.method not in (None, "", "*") and self.method.upper() != method.upper():
            return False
        if self.path not in (None, "", "*") and kind not in self.path.split("|"):
            return False
        return self.page_id in (None, "") or self.page_id == page_id

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


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
    engaged_users: int = 1  # Meta's Pages BUC limit is 4800 x this per rolling 24 h

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
            "engaged_users": self.engaged_users,
        }


DEFAULT_SCOPES = ("pages_show_list", "pages_read_engagement", "pages_manage_posts", "read_insights")


@dataclass
class TokenRecord:
    token: str
    kind: str  # "page" | "user" | "app"
    page_id: str | None = None  # page tokens
    user_id: str | None = None  # user tokens
    page_ids: list[str] = field(default_factory=list)  # user tokens: Pages listed by /me/accounts
    revoked: bool = False
    expired: bool = False
    # What debug_token reports (epoch seconds; 0 = never, as Meta says for Page tokens from a
    # long-lived user token). A user token from add_page is short-lived (two hours).
    expires_at: float = 0.0
    data_access_expires_at: float = 0.0
    scopes: tuple[str, ...] = DEFAULT_SCOPES


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
    # What an unpublished post was created as: DRAFT (a Page draft), SCHEDULED, or None (published=false
    # alone: an unpublished ads-style post, not a draft). Kept once published, for inspection.
    unpublished_content_type: str | None = None

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
    finished_time: float | None = None

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

