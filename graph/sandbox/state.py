"""In-memory state of the sandbox Graph server: Pages, tokens, posts, photos, videos, budget, faults.

Pure logic, no HTTP: :mod:`graph.sandbox.server` parses requests and calls the methods here, which
either return a JSON-ready value or raise :class:`SandboxError` carrying Graph's error fields. That
split lets the same rules serve real HTTP, Graph batch items and in-process inspection by tests.

Why it is built this way:

* **One re-entrant lock** guards everything. Each public method takes it once, so a check and the
  write it guards (e.g. "this photo is not attached yet" and "attach it") are atomic even when many
  workers call at the same time; that is what makes exactly-once assertions on the sandbox sound.
* **Every object ever created is kept** (deleted ones are flagged, not dropped), so tests can count
  what reached a Page exactly once through :meth:`SandboxState.objects`.
* **Budget and faults are deterministic**: counters per token in fixed windows aligned to the epoch
  (or rolling, on request) and a seeded RNG for fault rates, so a failing run can be replayed.
* Graph's quirks are kept on purpose (error codes, omitted keys, ``end_time`` = day + 1): the
  sandbox exists to catch clients that rely on friendlier behaviour than Meta's.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import math
import random
import re
import threading
import time
from collections import Counter, deque
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any, Callable, Iterable, Mapping, TypeVar

from graph.sandbox import series

SCHEDULE_MIN_SECONDS = 10 * 60
SCHEDULE_MAX_SECONDS = 75 * 86400  # feed reference; the posts guide says 30 days
REEL_SCHEDULE_MAX_SECONDS = 29 * 86400
UNPUBLISHED_PHOTO_TTL = 86400  # Meta drops unpublished photos after about a day
MAX_ATTACHED_MEDIA = 10
MAX_INSIGHTS_DAYS = 93
MAX_LIST_LIMIT = 100
DEFAULT_LIST_LIMIT = 25
DEFAULT_TASKS = ("ADVERTISE", "ANALYZE", "CREATE_CONTENT", "MESSAGING", "MODERATE", "MANAGE")
PAGE_TOKEN_REQUIRED = 2069032
FAULT_MODES = ("error", "apply_then_fail", "drop", "timeout")
RATE_LIMIT_MESSAGES = {
    4: "(#4) Application request limit reached",
    17: "(#17) User request limit reached",
    32: "(#32) Page request limit reached",
    613: "(#613) Calls to this api have exceeded the rate limit.",
    80001: "(#80001) There have been too many calls to this Page account. Wait a bit and try again. "
           "For more info, please refer to https://developers.facebook.com/docs/graph-api/overview/rate-limiting.",
}

T = TypeVar("T")


# --------------------------------------------------------------------------------------------
# Errors


class SandboxError(Exception):
    """A Graph error response: ``code``/``subcode``/``message`` as Meta would send them."""

    def __init__(
        self,
        code: int,
        message: str,
        *,
        subcode: int | None = None,
        http_status: int | None = None,
        type: str = "OAuthException",  # noqa: A002 - Graph's field name
        is_transient: bool | None = None,
        user_title: str | None = None,
        user_msg: str | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.subcode = subcode
        self.type = type
        self.http_status = http_status or default_http_status(code)
        self.is_transient = code in (1, 2, 4, 17, 32, 341, 613) if is_transient is None else is_transient
        self.user_title = user_title
        self.user_msg = user_msg

    def body(self, fbtrace_id: str) -> dict[str, Any]:
        """Graph's error body. ``error_subcode`` is left out when there is none, as Meta does."""
        error: dict[str, Any] = {"message": self.message, "type": self.type, "code": self.code}
        if self.subcode is not None:
            error["error_subcode"] = self.subcode
        error["is_transient"] = self.is_transient
        if self.user_title:
            error["error_user_title"] = self.user_title
        if self.user_msg:
            error["error_user_msg"] = self.user_msg
        error["fbtrace_id"] = fbtrace_id
        return {"error": error}


def default_http_status(code: int) -> int:
    """The HTTP status Graph tends to send with ``code`` (clients must not rely on it)."""
    if code in (1, 2):
        return 500
    if code == 4:
        return 403
    return 400


def not_found(object_id: str, method: str = "GET") -> SandboxError:
    verb = {"GET": "get", "POST": "post", "DELETE": "delete"}.get(method.upper(), method.lower())
    return SandboxError(
        100,
        f"Unsupported {verb} request. Object with ID '{object_id}' does not exist, cannot be loaded due to "
        "missing permissions, or does not support this operation. Please read the Graph API documentation "
        "at https://developers.facebook.com/docs/graph-api",
        subcode=33,
        type="GraphMethodException",
    )


def invalid(message: str, **kwargs: Any) -> SandboxError:
    return SandboxError(100, f"(#100) {message}", **kwargs)


# --------------------------------------------------------------------------------------------
# Parameter helpers (Graph accepts loose types: "true"/"1"/true, unix or ISO times)


def param_str(params: Mapping[str, Any], name: str) -> str | None:
    value = params.get(name)
    if value is None:
        return None
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    text = str(value)
    return text if text != "" else None


def param_bool(params: Mapping[str, Any], name: str, default: bool) -> bool:
    value = params.get(name)
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off"):
        return False
    raise invalid(f"Param {name} must be a boolean")


def parse_time(value: Any, name: str = "time") -> float | None:
    """Unix seconds from a unix number, a digit string, an ISO 8601 time or a YYYY-MM-DD date."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise invalid(f"Param {name} must be a unix timestamp or an ISO 8601 time")
    if isinstance(value, (int, float)):
        return float(value)
    text = str(value).strip()
    if re.fullmatch(r"-?\d+(\.\d+)?", text):
        return float(text)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise invalid(f"Param {name} must be a unix timestamp or an ISO 8601 time, got {text!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.timestamp()


def parse_limit(params: Mapping[str, Any], default: int = DEFAULT_LIST_LIMIT) -> int:
    raw = params.get("limit")
    if raw is None or raw == "":
        return default
    try:
        limit = int(str(raw))
    except ValueError:
        raise invalid("Param limit must be an integer") from None
    if limit < 0:
        raise invalid("Param limit must be a non-negative integer")
    return min(limit, MAX_LIST_LIMIT)


def iso(ts: float) -> str:
    """Graph's time format: ``2025-01-31T08:00:00+0000``."""
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S+0000")


def attached_media_ids(params: Mapping[str, Any]) -> list[str]:
    """``media_fbid`` values from ``attached_media[0]``, ``attached_media[1]``... or a JSON list."""
    items: list[Any] = []
    indexed = []
    for key, value in params.items():
        match = re.fullmatch(r"attached_media\[(\d+)\]", key)
        if match:
            indexed.append((int(match.group(1)), value))
    items.extend(value for _, value in sorted(indexed, key=lambda pair: pair[0]))
    whole = params.get("attached_media")
    if whole not in (None, ""):
        if isinstance(whole, str):
            try:
                whole = json.loads(whole)
            except ValueError:
                raise invalid("Param attached_media must be a JSON array of {\"media_fbid\": ...}") from None
        items.extend(whole if isinstance(whole, list) else [whole])
    ids: list[str] = []
    for index, item in enumerate(items):
        if isinstance(item, str):
            try:
                item = json.loads(item)
            except ValueError:
                raise invalid(f"Param attached_media[{index}] must be JSON like {{\"media_fbid\":\"...\"}}") from None
        if isinstance(item, (int, str)):
            item = {"media_fbid": str(item)}
        if not isinstance(item, dict) or not item.get("media_fbid"):
            raise invalid(f"Param attached_media[{index}] must be JSON like {{\"media_fbid\":\"...\"}}")
        ids.append(str(item["media_fbid"]))
    return ids


# --------------------------------------------------------------------------------------------
# Field expansion: "id,message,reactions.summary(true).limit(0),insights.metric(a,b){values}"


@dataclass(frozen=True)
class FieldSpec:
    name: str
    modifiers: dict[str, str]
    subfields: tuple["FieldSpec", ...] = ()


def _split_top(text: str) -> list[str]:
    parts, depth, current = [], 0, []
    for char in text:
        if char in "({":
            depth += 1
        elif char in ")}":
            depth = max(0, depth - 1)
        if char == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return [part.strip() for part in parts if part.strip()]


def parse_fields(text: str | None) -> list[FieldSpec] | None:
    """Parse Graph's ``fields`` parameter; ``None`` when absent (the caller applies defaults)."""
    if text is None or not str(text).strip():
        return None
    specs = []
    for part in _split_top(str(text)):
        match = re.match(r"[A-Za-z_][\w]*", part)
        if not match:
            raise invalid(f"Syntax error in fields: {part!r}")
        name, rest = match.group(0), part[match.end():]
        subfields: tuple[FieldSpec, ...] = ()
        brace = rest.find("{")
        if brace >= 0 and rest.endswith("}"):
            subfields = tuple(parse_fields(rest[brace + 1:-1]) or ())
            rest = rest[:brace]
        modifiers = {key: value.strip() for key, value in re.findall(r"\.(\w+)\(([^)]*)\)", rest)}
        specs.append(FieldSpec(name, modifiers, subfields))
    return specs


def _fields_or(specs: list[FieldSpec] | None, defaults: Iterable[str]) -> list[FieldSpec]:
    return specs if specs is not None else [FieldSpec(name, {}) for name in defaults]


# --------------------------------------------------------------------------------------------
# Records


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
class FaultRule:
    """One fault: which calls it matches, how often it fires and what it does.

    ``path`` is a route kind (``feed``, ``photos``, ``videos``, ``video_reels``, ``rupload``,
    ``post``, ``photo``, ``video``, ``page``, ``insights``, ``post_insights``, ``scheduled_posts``,
    ``published_posts``, ``posts``, ``accounts``, ...), several joined by ``|``, or ``*``/None.
    ``burst``: once the rule fires, the next ``burst - 1`` matching calls fire too.
    ``count``: the most times it fires in all (None = unlimited).
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
    fired: int = 0
    burst_left: int = 0

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> "FaultRule":
        known = {name for name in cls.__dataclass_fields__ if name not in ("fired", "burst_left")}
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


@dataclass
class ThrottleBurst:
    page_id: str | None
    remaining: int
    code: int
    regain_minutes: int


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


class _WindowCounter:
    """Calls in the current window: fixed windows aligned to the epoch, or a rolling window."""

    def __init__(self) -> None:
        self.window = -1
        self.count = 0
        self.times: deque[float] = deque()

    def hit(self, now: float, seconds: float, rolling: bool) -> int:
        if rolling:
            while self.times and self.times[0] <= now - seconds:
                self.times.popleft()
            self.times.append(now)
            return len(self.times)
        window = int(now // seconds)
        if window != self.window:
            self.window, self.count = window, 0
        self.count += 1
        return self.count

    def regain_seconds(self, now: float, seconds: float, limit: int, rolling: bool) -> float:
        """Seconds until the count in the window drops below ``limit`` again."""
        if rolling:
            excess = len(self.times) - limit
            if excess < 0:
                return 0.0
            return max(0.0, self.times[excess] + seconds - now)
        return max(0.0, (self.window + 1) * seconds - now)


def _locked(method: Callable[..., T]) -> Callable[..., T]:
    @functools.wraps(method)
    def wrapper(self: "SandboxState", *args: Any, **kwargs: Any) -> T:
        with self._lock:
            return method(self, *args, **kwargs)

    return wrapper


def _digest(*parts: object) -> str:
    return hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest()


def _new_stats() -> dict[str, Any]:
    return {
        "total_calls": 0,
        "calls_by_token": Counter(),
        "calls_by_page": Counter(),
        "calls_by_route": Counter(),
        "responses_by_status": Counter(),
        "errors_by_code": Counter(),
        "throttled_responses": 0,
        "throttled_by_code": Counter(),
        "over_budget_calls": 0,
        "over_budget_by_token": Counter(),
        "burst_throttled": 0,
        "calls_during_backoff": 0,
        "peak_window_calls": {},
        "faults_fired": Counter(),
        "token_in_url_calls": 0,
        "invalid_token_calls": 0,
        "internal_errors": [],
    }


# --------------------------------------------------------------------------------------------
# The state


class SandboxState:
    """Everything the sandbox Graph server knows; every public method is thread-safe."""

    def __init__(
        self,
        seed: int = 1,
        calls_per_window: int = 200,
        window_seconds: float = 3600,
        app_calls_per_window: int | None = None,
        latency_ms: float = 0,
        *,
        window_mode: str = "fixed",
        fault_timeout_seconds: float = 5.0,
        video_processing_seconds: float = 0.0,
        app_secret: str | None = None,
        faults: Iterable[Mapping[str, Any]] = (),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._lock = threading.RLock()
        self.seed = seed
        self.calls_per_window = int(calls_per_window)
        self.window_seconds = float(window_seconds)
        self.app_calls_per_window = app_calls_per_window
        self.window_mode = window_mode
        self.latency_ms = float(latency_ms)
        self.fault_timeout_seconds = float(fault_timeout_seconds)
        self.video_processing_seconds = float(video_processing_seconds)
        self.app_secret = app_secret
        self.clock = clock
        self.clock_offset = 0.0
        self.stopping = threading.Event()  # set on shutdown so sleeping faults wake up
        self._pages: dict[str, PageRecord] = {}
        self._tokens: dict[str, TokenRecord] = {}
        self._page_seq = 0
        self._id_seq = 0
        self._reset_objects()
        self._reset_runtime()
        self.set_faults(rules=list(faults))

    # -- clock ---------------------------------------------------------------------------------

    def now(self) -> float:
        return self.clock() + self.clock_offset

    def today(self) -> date:
        return datetime.fromtimestamp(self.now(), timezone.utc).date()

    @_locked
    def advance_clock(self, seconds: float) -> float:
        """Move the sandbox's notion of time forward (budget windows, schedules); returns now."""
        self.clock_offset += float(seconds)
        return self.now()

    # -- setup ---------------------------------------------------------------------------------

    def _reset_objects(self) -> None:
        self._objects: dict[str, PostRecord | PhotoRecord | VideoRecord] = {}
        self._by_page: dict[str, list[str]] = {}  # object ids per Page, in creation order
        self._scheduled: set[str] = set()

    def _store(self, record: PostRecord | PhotoRecord | VideoRecord) -> None:
        self._objects[record.id] = record
        self._by_page.setdefault(record.page_id, []).append(record.id)

    def _page_objects(self, page_id: str) -> list[PostRecord | PhotoRecord | VideoRecord]:
        return [self._objects[object_id] for object_id in self._by_page.get(str(page_id), ())]

    def _reset_runtime(self) -> None:
        self._counters: dict[str, _WindowCounter] = {}
        self._backoff_until: dict[str, float] = {}
        self._bursts: list[ThrottleBurst] = []
        self._stats = _new_stats()
        self._log: deque[dict[str, Any]] = deque(maxlen=5000)

    @_locked
    def add_page(
        self,
        page_id: str | None = None,
        name: str | None = None,
        token: str | None = None,
        user_token: str | None = None,
        anomaly: bool = True,
        anomaly_day: date | str | None = None,
        tasks: Iterable[str] | None = None,
    ) -> PageRecord:
        """Create a Page with its Page token; ids and tokens are derived from the seed when None.

        Pages added with the same ``user_token`` are all listed by ``/me/accounts`` for it; with
        ``user_token=None`` each Page gets a user token of its own.
        """
        self._page_seq += 1
        if page_id is None:
            page_id = str(100000000000000 + (self.seed % 9000) * 10**8 + self._page_seq)
            while page_id in self._pages:
                self._page_seq += 1
                page_id = str(100000000000000 + (self.seed % 9000) * 10**8 + self._page_seq)
        page_id = str(page_id)
        if not re.fullmatch(r"\d+", page_id):
            raise ValueError("page_id must be numeric, like Graph's")
        if page_id in self._pages:
            raise ValueError(f"page {page_id} already exists")
        token = token or "EAAS" + _digest(self.seed, "page-token", page_id)[:56]
        user_token = user_token or "EAAU" + _digest(self.seed, "user-token", page_id)[:56]
        existing = self._tokens.get(token)
        if existing is not None:
            raise ValueError("token is already in use")
        user = self._tokens.get(user_token)
        if user is not None and user.kind != "user":
            raise ValueError("user_token is already in use as a Page token")
        if isinstance(anomaly_day, str):
            anomaly_day = date.fromisoformat(anomaly_day)
        if anomaly and anomaly_day is None:
            anomaly_day = self.today() - timedelta(days=3)
        page = PageRecord(
            page_id=page_id,
            name=name or f"Sandbox Page {self._page_seq}",
            token=token,
            user_token=user_token,
            anomaly_day=anomaly_day if anomaly else None,
            tasks=tuple(tasks) if tasks is not None else DEFAULT_TASKS,
            seq=self._page_seq,
        )
        self._pages[page_id] = page
        self._tokens[token] = TokenRecord(token=token, kind="page", page_id=page_id)
        if user is None:
            user = TokenRecord(token=user_token, kind="user",
                               user_id=str(500000000000000 + int(_digest(self.seed, user_token)[:8], 16)))
            self._tokens[user_token] = user
        user.page_ids.append(page_id)
        return page

    @_locked
    def pages(self) -> list[PageRecord]:
        return sorted(self._pages.values(), key=lambda page: page.seq)

    @_locked
    def page(self, page_id: str) -> PageRecord | None:
        return self._pages.get(str(page_id))

    @_locked
    def anomaly_for(self, page_id: str) -> tuple[str, date] | None:
        """The Page's planted anomaly as (metric, measured day), or None for a clean Page.

        Graph reports the value for measured day D with ``end_time`` D + 1 (08:00 UTC).
        """
        page = self._pages.get(str(page_id))
        if page is None or page.anomaly_day is None:
            return None
        return series.ANOMALY_METRIC, page.anomaly_day

    @_locked
    def revoke_token(self, token: str) -> bool:
        """Invalidate a token (190/467 from now on); False when the token is unknown."""
        record = self._tokens.get(token)
        if record is None:
            return False
        record.revoked = True
        return True

    @_locked
    def expire_token(self, token: str) -> bool:
        """Mark a token expired (190/463 from now on); False when the token is unknown."""
        record = self._tokens.get(token)
        if record is None:
            return False
        record.expired = True
        return True

    @_locked
    def set_budget(
        self,
        calls_per_window: int | None = None,
        window_seconds: float | None = None,
        app_calls_per_window: int | None | str = "keep",
        window_mode: str | None = None,
    ) -> dict[str, Any]:
        """Change the budget; counters in the current window are kept."""
        if calls_per_window is not None:
            self.calls_per_window = int(calls_per_window)
        if window_seconds is not None:
            self.window_seconds = float(window_seconds)
        if app_calls_per_window != "keep":
            self.app_calls_per_window = None if app_calls_per_window is None else int(app_calls_per_window)
        if window_mode is not None:
            if window_mode not in ("fixed", "rolling"):
                raise ValueError("window_mode must be 'fixed' or 'rolling'")
            self.window_mode = window_mode
        return self.budget()

    @_locked
    def budget(self) -> dict[str, Any]:
        return {
            "calls_per_window": self.calls_per_window,
            "window_seconds": self.window_seconds,
            "app_calls_per_window": self.app_calls_per_window,
            "window_mode": self.window_mode,
        }

    @_locked
    def set_faults(
        self,
        rules: Iterable[Mapping[str, Any] | FaultRule] | None = None,
        latency_ms: float | None = None,
        fault_timeout_seconds: float | None = None,
        video_processing_seconds: float | None = None,
    ) -> dict[str, Any]:
        """Replace the fault rules (when given) and knobs; the RNG restarts from the seed."""
        if rules is not None:
            self._rules = [rule if isinstance(rule, FaultRule) else FaultRule.from_dict(rule) for rule in rules]
            self._rng = random.Random(self.seed)
        if latency_ms is not None:
            self.latency_ms = float(latency_ms)
        if fault_timeout_seconds is not None:
            self.fault_timeout_seconds = float(fault_timeout_seconds)
        if video_processing_seconds is not None:
            self.video_processing_seconds = float(video_processing_seconds)
        return self.faults()

    @_locked
    def faults(self) -> dict[str, Any]:
        return {
            "rules": [rule.to_dict() for rule in self._rules],
            "latency_ms": self.latency_ms,
            "fault_timeout_seconds": self.fault_timeout_seconds,
            "video_processing_seconds": self.video_processing_seconds,
            "throttle_bursts": [asdict(burst) for burst in self._bursts if burst.remaining > 0],
        }

    @_locked
    def throttle_burst(
        self, page_id: str | None = None, calls: int = 1, code: int = 80001, regain_minutes: int = 1
    ) -> None:
        """Make the next ``calls`` calls for ``page_id`` (any call when None) fail with ``code``."""
        if code not in RATE_LIMIT_MESSAGES:
            raise ValueError(f"throttle code must be one of {sorted(RATE_LIMIT_MESSAGES)}")
        self._bursts.append(ThrottleBurst(None if page_id in (None, "") else str(page_id), int(calls),
                                          int(code), max(1, int(regain_minutes))))

    @_locked
    def reset(self) -> None:
        """Forget objects, stats, faults, throttles and budget counters; keep Pages and tokens.

        Revoked or expired tokens become valid again (revocation is treated as a fault).
        """
        self._reset_objects()
        self._reset_runtime()
        self.set_faults(rules=[], latency_ms=0)
        self.clock_offset = 0.0
        for record in self._tokens.values():
            record.revoked = record.expired = False

    # -- inspection ----------------------------------------------------------------------------

    @_locked
    def objects(self, page_id: str) -> dict[str, list[dict[str, Any]]]:
        """Every post, photo and video ever created for the Page (deleted ones flagged), oldest first."""
        self._promote_due()
        out: dict[str, list[dict[str, Any]]] = {"posts": [], "photos": [], "videos": []}
        for record in self._page_objects(page_id):
            bucket = {PostRecord: "posts", PhotoRecord: "photos", VideoRecord: "videos"}[type(record)]
            out[bucket].append(record.to_dict())
        return out

    @_locked
    def stats(self) -> dict[str, Any]:
        """Counters since start or the last reset (JSON-ready: Counters become dicts)."""
        return json.loads(json.dumps(self._stats, default=dict))

    @_locked
    def call_log(self, limit: int = 200) -> list[dict[str, Any]]:
        """The most recent calls (method, route kind, page, status, error code), newest last."""
        return list(self._log)[-limit:]

    # -- per-call bookkeeping: auth, budget, throttles, faults -----------------------------------

    @_locked
    def object_page(self, object_id: str) -> tuple[str, str | None]:
        """(kind, page id) of an id: ``page``, ``post``, ``photo``, ``video`` or ``object`` (unknown)."""
        if object_id in self._pages:
            return "page", object_id
        record = self._objects.get(object_id)
        if record is None:
            return "object", None
        kind = {PostRecord: "post", PhotoRecord: "photo", VideoRecord: "video"}[type(record)]
        return kind, record.page_id

    @_locked
    def begin_call(
        self,
        token: str | None,
        method: str,
        kind: str,
        page_id: str | None,
        *,
        token_in_url: bool = False,
        appsecret_proof: str | None = None,
    ) -> CallContext:
        """Account for one Graph call and decide whether it is refused before doing anything.

        Order, as on Graph: the token must be valid; then the call counts against the token's (and
        the app's) budget *even when it is refused*, because Meta counts calls made while
        throttled; then a throttle burst or an exhausted budget refuses it; then fault rules.
        """
        ctx = CallContext(method=method, kind=kind, page_id=page_id)
        stats = self._stats
        stats["total_calls"] += 1
        stats["calls_by_route"][f"{method} {kind}"] += 1
        if token_in_url:
            stats["token_in_url_calls"] += 1
        if not token:
            stats["invalid_token_calls"] += 1
            ctx.error = SandboxError(104, "An access token is required to request this resource.")
            return ctx
        record = self._tokens.get(token)
        if record is None or record.revoked or record.expired:
            stats["invalid_token_calls"] += 1
            if record is None:
                ctx.error = SandboxError(190, "Invalid OAuth access token - Cannot parse access token")
            elif record.expired:
                ctx.error = SandboxError(190, "Error validating access token: Session has expired.", subcode=463)
            else:
                ctx.error = SandboxError(
                    190, "Error validating access token: The session is invalid because the user logged out.",
                    subcode=467)
            return ctx
        if self.app_secret is not None and appsecret_proof is not None:
            expected = hmac.new(self.app_secret.encode(), token.encode(), hashlib.sha256).hexdigest()
            if not hmac.compare_digest(expected, appsecret_proof):
                ctx.error = invalid("Invalid appsecret_proof provided in the API argument")
                return ctx
        ctx.token = record
        ctx.page_id = page_id or record.page_id
        scope_page = record.page_id if record.kind == "page" else page_id
        stats["calls_by_token"][token] += 1
        if scope_page:
            stats["calls_by_page"][scope_page] += 1
        now = self.now()
        if any(self._backoff_until.get(key, 0.0) > now for key in self._backoff_keys(record, scope_page)):
            stats["calls_during_backoff"] += 1
        self._budget_check(ctx, record, scope_page, now)
        if ctx.error is None:
            ctx.fault = self._decide_fault(method, kind, scope_page)
            if ctx.fault is not None and ctx.fault.mode == "error":
                ctx.error = SandboxError(
                    ctx.fault.code,
                    ctx.fault.message or _fault_message(ctx.fault.code),
                    subcode=ctx.fault.subcode,
                    http_status=ctx.fault.http_status,
                )
        return ctx

    @staticmethod
    def _backoff_keys(record: TokenRecord, scope_page: str | None) -> list[str]:
        keys = ["app", f"token:{record.token}"]
        if scope_page:
            keys.append(f"page:{scope_page}")
        return keys

    def _budget_check(self, ctx: CallContext, record: TokenRecord, scope_page: str | None, now: float) -> None:
        rolling = self.window_mode == "rolling"
        seconds, limit = self.window_seconds, max(1, self.calls_per_window)
        counter = self._counters.setdefault(f"token:{record.token}", _WindowCounter())
        count = counter.hit(now, seconds, rolling)
        peak = self._stats["peak_window_calls"]
        peak[record.token] = max(peak.get(record.token, 0), count)
        pct = count * 100 // limit
        regain_min = math.ceil(counter.regain_seconds(now, seconds, limit, rolling) / 60) if count >= limit else 0
        if count >= limit:
            regain_min = max(1, regain_min)
        app_limit = self.app_calls_per_window
        app_pct, app_count = 0, 0
        if app_limit:
            app_counter = self._counters.setdefault("app", _WindowCounter())
            app_count = app_counter.hit(now, seconds, rolling)
            app_pct = app_count * 100 // max(1, app_limit)

        burst = next((b for b in self._bursts if b.remaining > 0
                      and (b.page_id is None or b.page_id == scope_page)), None)
        if burst is not None:
            burst.remaining -= 1
            self._stats["burst_throttled"] += 1
            if burst.code == 4:
                app_pct = max(app_pct, 100)
            else:
                pct, regain_min = max(pct, 100), max(regain_min, burst.regain_minutes)
            self._throttle(ctx, burst.code, scope_page, record, now + burst.regain_minutes * 60,
                           app=burst.code == 4 or burst.page_id is None)
        elif app_limit and app_count > app_limit:
            self._over_budget(record)
            self._throttle(ctx, 4, scope_page, record,
                           now + self._counters["app"].regain_seconds(now, seconds, app_limit, rolling), app=True)
        elif count > limit:
            self._over_budget(record)
            if record.kind == "page":
                code = 80001
            else:
                code = 17 if ctx.kind in ("me", "accounts") else 32
            self._throttle(ctx, code, scope_page, record, now + regain_min * 60, app=False)

        headers: dict[str, str] = {}
        load = {"call_count": pct, "total_cputime": pct // 3, "total_time": pct // 2}
        if record.kind == "page" and record.page_id:
            headers["X-Page-Usage"] = json.dumps({**load, "estimated_time_to_regain_access": regain_min})
            headers["X-Business-Use-Case-Usage"] = json.dumps(
                {record.page_id: [{"type": "pages", **load, "estimated_time_to_regain_access": regain_min}]})
            app_load = app_pct
        else:
            app_load = max(app_pct, pct)  # user tokens: Meta's per-user platform limit shows here
        headers["X-App-Usage"] = json.dumps(
            {"call_count": app_load, "total_cputime": app_load // 3, "total_time": app_load // 2})
        ctx.headers = headers

    def _over_budget(self, record: TokenRecord) -> None:
        self._stats["over_budget_calls"] += 1
        self._stats["over_budget_by_token"][record.token] += 1

    def _throttle(self, ctx: CallContext, code: int, scope_page: str | None, record: TokenRecord,
                  until: float, *, app: bool) -> None:
        self._stats["throttled_responses"] += 1
        self._stats["throttled_by_code"][str(code)] += 1
        if app:
            key = "app"
        elif record.kind == "page" or scope_page is None:
            key = f"page:{scope_page}" if scope_page else f"token:{record.token}"
        else:
            key = f"page:{scope_page}"
        self._backoff_until[key] = max(self._backoff_until.get(key, 0.0), until)
        ctx.error = SandboxError(code, RATE_LIMIT_MESSAGES[code])

    def _decide_fault(self, method: str, kind: str, page_id: str | None) -> FaultRule | None:
        for rule in self._rules:
            if not rule.matches(method, kind, page_id):
                continue
            if rule.count is not None and rule.fired >= rule.count:
                continue
            if rule.burst_left > 0:
                rule.burst_left -= 1
            elif self._rng.random() < float(rule.rate):
                rule.burst_left = max(0, int(rule.burst or 1) - 1)
            else:
                continue
            rule.fired += 1
            self._stats["faults_fired"][rule.mode] += 1
            return rule
        return None

    @_locked
    def release_fault(self, rule: FaultRule) -> None:
        """Un-count a post-apply fault whose call failed anyway (nothing was applied to fail after)."""
        rule.fired = max(0, rule.fired - 1)
        self._stats["faults_fired"][rule.mode] -= 1

    @_locked
    def finish_call(self, ctx: CallContext, status: int, code: int | None, fault_mode: str | None = None) -> None:
        """Record the outcome of a call (status counters, error codes, the recent-call log)."""
        self._stats["responses_by_status"][str(status)] += 1
        if code is not None:
            self._stats["errors_by_code"][str(code)] += 1
        self._log.append({
            "time": self.now(), "method": ctx.method, "kind": ctx.kind, "page_id": ctx.page_id,
            "status": status, "code": code, "fault": fault_mode,
        })

    @_locked
    def record_internal_error(self, text: str) -> None:
        self._stats["internal_errors"].append(text[-4000:])

    # -- helpers for operations ----------------------------------------------------------------

    def _next_id(self) -> str:
        self._id_seq += 1
        return str(122000000000000 + (self.seed % 9000) * 10**9 + self._id_seq)

    def _promote_due(self) -> None:
        """Scheduled posts whose time has come are published, lazily, as Graph would have done."""
        if not self._scheduled:
            return
        now = self.now()
        for post_id in list(self._scheduled):
            post = self._objects.get(post_id)
            if not isinstance(post, PostRecord) or post.status != "scheduled" or post.deleted:
                self._scheduled.discard(post_id)
                continue
            if post.scheduled_publish_time is not None and post.scheduled_publish_time <= now:
                self._publish(post, post.scheduled_publish_time)

    def _publish(self, post: PostRecord, when: float) -> None:
        post.status = "published"
        post.published_time = when
        post.updated_time = when
        self._scheduled.discard(post.id)
        for media_id in ([post.photo_id] if post.photo_id else []) + post.attached_media:
            photo = self._objects.get(media_id)
            if isinstance(photo, PhotoRecord):
                photo.published = True

    def _page_actor(self, actor: TokenRecord, page_id: str, *, write: bool = True) -> PageRecord:
        """The Page a Page token may act on; user tokens and other Pages' tokens are refused."""
        page = self._pages.get(str(page_id))
        if page is None:
            raise not_found(str(page_id), "POST" if write else "GET")
        if actor.kind != "page":
            raise SandboxError(190, "(#190) This method must be called with a Page Access Token",
                               subcode=PAGE_TOKEN_REQUIRED)
        if actor.page_id != page.page_id:
            raise SandboxError(200, "(#200) Permissions error: this Page access token cannot act on "
                                    f"Page {page.page_id}")
        if write and "CREATE_CONTENT" not in page.tasks:
            raise SandboxError(200, "(#200) The user does not have the CREATE_CONTENT task on this Page "
                                    "(pages_manage_posts)")
        return page

    def _owned(self, actor: TokenRecord, object_id: str, method: str) -> PostRecord | PhotoRecord | VideoRecord:
        record = self._objects.get(object_id)
        if record is None or record.deleted:
            raise not_found(object_id, method)
        if actor.kind != "page":
            raise SandboxError(190, "(#190) This method must be called with a Page Access Token",
                               subcode=PAGE_TOKEN_REQUIRED)
        if actor.page_id != record.page_id:
            raise SandboxError(200, "(#200) Permissions error: this Page access token cannot act on "
                                    f"an object of Page {record.page_id}")
        return record

    def _schedule_time(self, params: Mapping[str, Any], *, reel: bool = False) -> int | None:
        raw = params.get("scheduled_publish_time")
        ts = parse_time(raw, "scheduled_publish_time")
        if ts is None:
            return None
        self._check_window(ts, reel=reel)
        return int(ts)

    def _check_window(self, ts: float, *, reel: bool = False) -> None:
        ahead = ts - self.now()
        upper = REEL_SCHEDULE_MAX_SECONDS if reel else SCHEDULE_MAX_SECONDS
        if not SCHEDULE_MIN_SECONDS <= ahead <= upper:
            days = upper // 86400
            raise invalid(
                f"The specified scheduled publish time is invalid: it must be between 10 minutes and {days} days "
                f"from now (got {iso(ts)}, {int(ahead)} seconds from now)",
                user_title="Invalid Scheduled Publish Time",
                user_msg=f"Scheduled posts must be scheduled between 10 minutes and {days} days from now.",
            )

    def _new_post(self, page: PageRecord, kind: str, message: str | None, link: str | None,
                  published: bool, scheduled: int | None, *, post_id: str | None = None) -> PostRecord:
        now = self.now()
        status = "published" if published else ("scheduled" if scheduled else "draft")
        post = PostRecord(
            id=post_id or f"{page.page_id}_{self._next_id()}",
            page_id=page.page_id, kind=kind, message=message, link=link, status=status,
            scheduled_publish_time=scheduled, created_time=now, seq=self._id_seq,
            published_time=now if published else None, updated_time=now,
        )
        self._store(post)
        if status == "scheduled":
            self._scheduled.add(post.id)
        return post

    @staticmethod
    def _check_https(value: str | None, name: str) -> str:
        if not value:
            raise invalid(f"The parameter {name} is required")
        if not re.match(r"https://[^\s/]+", value):
            raise invalid(f"Param {name} must be an https:// URL")
        return value

    def _publish_mode(self, params: Mapping[str, Any], *, reel: bool = False) -> tuple[bool, int | None]:
        published = param_bool(params, "published", True)
        scheduled_raw = params.get("scheduled_publish_time")
        if published and scheduled_raw not in (None, ""):
            raise invalid("You cannot specify a scheduled publish time on a published post: send published=false "
                          "with scheduled_publish_time")
        scheduled = None if published else self._schedule_time(params, reel=reel)
        content_type = (param_str(params, "unpublished_content_type") or "").upper()
        if content_type == "SCHEDULED" and scheduled is None:
            raise invalid("unpublished_content_type=SCHEDULED requires scheduled_publish_time")
        return published, scheduled

    # -- operations: publishing ----------------------------------------------------------------

    @_locked
    def create_feed_post(self, actor: TokenRecord, page_id: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """POST /{page}/feed: text, link, or photos attached with ``attached_media`` (albums)."""
        self._promote_due()
        page = self._page_actor(actor, page_id)
        message, link = param_str(params, "message"), param_str(params, "link")
        media = attached_media_ids(params)
        if not message and not link and not media:
            raise invalid("Missing message or attachment")
        if link and not re.match(r"https?://[^\s/]+", link):
            raise invalid("Param link must be a valid http(s) URL")
        if link and media:
            raise invalid("link and attached_media cannot be combined in one post")
        published, scheduled = self._publish_mode(params)
        if len(media) > MAX_ATTACHED_MEDIA:
            raise invalid(f"attached_media accepts at most {MAX_ATTACHED_MEDIA} photos (got {len(media)})")
        if len(set(media)) != len(media):
            raise invalid("attached_media lists the same media_fbid twice")
        photos: list[PhotoRecord] = []
        now = self.now()
        for index, media_id in enumerate(media):
            record = self._objects.get(media_id)
            where = f"attached_media[{index}]: media_fbid {media_id}"
            if record is None or record.deleted or isinstance(record, PostRecord):
                raise invalid(f"{where} does not exist")
            if isinstance(record, VideoRecord):
                raise invalid(f"{where} is a video; only unpublished photos can be attached to a post")
            if record.page_id != page.page_id:
                raise invalid(f"{where} belongs to another Page")
            if record.attached_to:
                raise invalid(f"{where} was already attached to post {record.attached_to}; upload the photo again")
            if record.published or record.post_id:
                raise invalid(f"{where} is already published; attach photos uploaded with published=false")
            if now - record.created_time > UNPUBLISHED_PHOTO_TTL:
                raise invalid(f"{where} has expired (unpublished photos are kept for about 24 hours)")
            photos.append(record)
        kind = "album" if len(media) > 1 else "photo" if media else "link" if link else "status"
        post = self._new_post(page, kind, message, link, published, scheduled)
        post.attached_media = list(media)
        for photo in photos:
            photo.attached_to = post.id
            photo.published = post.published
        return {"id": post.id}

    @_locked
    def create_photo(self, actor: TokenRecord, page_id: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """POST /{page}/photos: an unpublished photo (for albums) or a published/scheduled photo post."""
        self._promote_due()
        page = self._page_actor(actor, page_id)
        url = param_str(params, "url")
        if not url:
            raise SandboxError(324, "(#324) Requires upload file")
        self._check_https(url, "url")
        published, scheduled = self._publish_mode(params)
        photo = PhotoRecord(
            id=self._next_id(), page_id=page.page_id, url=url,
            caption=param_str(params, "caption") or param_str(params, "message"),
            alt_text=param_str(params, "alt_text_custom"), published=published,
            temporary=param_bool(params, "temporary", False), scheduled_publish_time=scheduled,
            created_time=self.now(),
        )
        self._store(photo)
        result: dict[str, Any] = {"id": photo.id}
        if published or scheduled:
            post = self._new_post(page, "photo", photo.caption, None, published, scheduled,
                                  post_id=f"{page.page_id}_{photo.id}")
            post.photo_id = photo.id
            photo.post_id = post.id
            result["post_id"] = post.id
        return result

    @_locked
    def create_video(self, actor: TokenRecord, page_id: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """POST {video-host}/{page}/videos by ``file_url``: a video and its post (live, scheduled or draft)."""
        self._promote_due()
        page = self._page_actor(actor, page_id)
        file_url = self._check_https(param_str(params, "file_url"), "file_url")
        published, scheduled = self._publish_mode(params)
        video = VideoRecord(
            id=self._next_id(), page_id=page.page_id, kind="video", file_url=file_url,
            description=param_str(params, "description"), title=param_str(params, "title"),
            created_time=self.now(), uploaded_time=self.now(), finished=True,
        )
        self._store(video)
        post = self._new_post(page, "video", video.description, None, published, scheduled,
                              post_id=f"{page.page_id}_{video.id}")
        post.video_id = video.id
        video.post_id = post.id
        return {"id": video.id}

    @_locked
    def reel_start(self, actor: TokenRecord, page_id: str) -> dict[str, Any]:
        """upload_phase=start: reserve a video id; the caller builds the upload URL from it."""
        page = self._page_actor(actor, page_id)
        video = VideoRecord(id=self._next_id(), page_id=page.page_id, kind="reel", file_url=None,
                            description=None, title=None, created_time=self.now())
        self._store(video)
        return {"video_id": video.id}

    @_locked
    def reel_upload(self, actor: TokenRecord, video_id: str, file_url: str | None) -> dict[str, Any]:
        """The rupload step: the hosted file is fetched by URL (``file_url`` header)."""
        video = self._owned(actor, video_id, "POST")
        if not isinstance(video, VideoRecord) or video.kind != "reel":
            raise not_found(video_id, "POST")
        video.file_url = self._check_https(file_url, "file_url")
        video.uploaded_time = self.now()
        return {"success": True}

    @_locked
    def reel_finish(self, actor: TokenRecord, page_id: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """upload_phase=finish: publish, schedule or draft the uploaded reel. Repeating it is harmless."""
        self._promote_due()
        page = self._page_actor(actor, page_id)
        video_id = param_str(params, "video_id")
        if not video_id:
            raise invalid("The parameter video_id is required")
        video = self._owned(actor, video_id, "POST")
        if not isinstance(video, VideoRecord) or video.kind != "reel" or video.page_id != page.page_id:
            raise not_found(video_id, "POST")
        if video.uploaded_time is None:
            raise invalid(f"Video {video_id} has not been uploaded: POST the file to the upload_url first")
        if video.post_id:
            return {"success": True, "post_id": video.post_id}
        state = (param_str(params, "video_state") or "PUBLISHED").upper()
        if state not in ("PUBLISHED", "SCHEDULED", "DRAFT"):
            raise invalid("Param video_state must be one of PUBLISHED, SCHEDULED, DRAFT")
        scheduled = None
        if state == "SCHEDULED":
            scheduled = self._schedule_time(params, reel=True)
            if scheduled is None:
                raise invalid("video_state=SCHEDULED requires scheduled_publish_time")
        video.description = param_str(params, "description")
        video.title = param_str(params, "title")
        video.finished = True
        post = self._new_post(page, "reel", video.description, None, state == "PUBLISHED", scheduled,
                              post_id=f"{page.page_id}_{video.id}")
        post.video_id = video.id
        video.post_id = post.id
        return {"success": True, "post_id": post.id}

    @_locked
    def update_object(self, actor: TokenRecord, object_id: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """POST /{id}: publish (``is_published``), reschedule, or edit the message of a post.

        An unpublished photo or an uploaded video can be published the same way; it becomes a
        post ``{page}_{id}``. Publishing what is already live succeeds again (idempotent).
        """
        self._promote_due()
        record = self._owned(actor, object_id, "POST")
        page = self._page_actor(actor, record.page_id)
        publish_raw = params.get("is_published", params.get("published"))
        if isinstance(record, (PhotoRecord, VideoRecord)):
            if publish_raw is not None and param_bool({"p": publish_raw}, "p", True):
                return self._publish_media(page, record)
            if record.post_id:
                record = self._objects[record.post_id]
            else:
                raise invalid(f"Object {object_id} has no post to update")
        assert isinstance(record, PostRecord)
        post = record
        now = self.now()
        changed = False
        if publish_raw is not None:
            if param_bool({"is_published": publish_raw}, "is_published", True):
                if not post.published:
                    self._publish(post, now)
                return {"success": True}
            if post.published:
                post.status, post.published_time = "draft", None
                changed = True
        scheduled = parse_time(params.get("scheduled_publish_time"), "scheduled_publish_time")
        if scheduled is not None:
            if post.published:
                raise invalid("A published post cannot be rescheduled")
            self._check_window(scheduled, reel=post.kind == "reel")
            post.scheduled_publish_time = int(scheduled)
            post.status = "scheduled"
            self._scheduled.add(post.id)
            changed = True
        message = params.get("message")
        if message is not None:
            post.message = str(message)
            post.message_edits += 1
            changed = True
        if not changed:
            raise invalid("Nothing to update: send is_published, scheduled_publish_time or message")
        post.updated_time = now
        return {"success": True}

    def _publish_media(self, page: PageRecord, media: PhotoRecord | VideoRecord) -> dict[str, Any]:
        if isinstance(media, PhotoRecord) and media.attached_to:
            post = self._objects[media.attached_to]
        elif media.post_id:
            post = self._objects[media.post_id]
        else:
            kind = "photo" if isinstance(media, PhotoRecord) else media.kind
            text = media.caption if isinstance(media, PhotoRecord) else media.description
            post = self._new_post(page, kind, text, None, False, None, post_id=f"{page.page_id}_{media.id}")
            if isinstance(media, PhotoRecord):
                post.photo_id = media.id
            else:
                post.video_id = media.id
            media.post_id = post.id
        assert isinstance(post, PostRecord)
        if not post.published:
            self._publish(post, self.now())
        return {"success": True}

    @_locked
    def delete_object(self, actor: TokenRecord, object_id: str) -> dict[str, Any]:
        """DELETE /{id}: the object disappears from Graph; the sandbox keeps it, flagged."""
        record = self._owned(actor, object_id, "DELETE")
        record.deleted = True
        if isinstance(record, PostRecord):
            record.deleted_time = self.now()
            self._scheduled.discard(record.id)
        return {"success": True}

    # -- operations: reading -------------------------------------------------------------------

    @_locked
    def me(self, actor: TokenRecord, fields: list[FieldSpec] | None) -> dict[str, Any]:
        if actor.kind == "page" and actor.page_id:
            return self._render_page(self._pages[actor.page_id], fields, actor)
        return {"id": actor.user_id, "name": "Sandbox User"}

    @_locked
    def accounts(self, actor: TokenRecord, params: Mapping[str, Any]) -> tuple[list[dict[str, Any]], str | None, str | None, bool]:
        """GET /me/accounts: (items, first cursor, last cursor, has more)."""
        if actor.kind != "user":
            raise invalid("Tried accessing nonexisting field (accounts) on node type (Page)")
        limit = parse_limit(params)
        fields = parse_fields(param_str(params, "fields"))
        pages = [self._pages[pid] for pid in actor.page_ids if pid in self._pages]
        after = _decode_cursor(param_str(params, "after"))
        if after is not None:
            pages = [page for page in pages if page.seq > after[1]]
        chunk, more = pages[:limit], len(pages) > limit
        specs = _fields_or(fields, ("access_token", "category", "category_list", "name", "id", "tasks"))
        items = [self._render_page(page, specs, actor, listing=True) for page in chunk]
        first = _encode_cursor(0, chunk[0].seq) if chunk else None
        last = _encode_cursor(0, chunk[-1].seq) if chunk else None
        return items, first, last, more

    @_locked
    def get_object(self, actor: TokenRecord, object_id: str, fields: list[FieldSpec] | None) -> dict[str, Any]:
        """GET /{id}: a Page (any valid token), or a post/photo/video of the token's Page."""
        self._promote_due()
        page = self._pages.get(object_id)
        if page is not None:
            return self._render_page(page, fields, actor)
        record = self._owned(actor, object_id, "GET")
        if isinstance(record, PostRecord):
            return self._render_post(record, _fields_or(fields, ("id", "created_time", "message")))
        if isinstance(record, PhotoRecord):
            return self._render_photo(record, fields)
        return self._render_video(record, fields)

    @_locked
    def list_posts(
        self, actor: TokenRecord, page_id: str, which: str, params: Mapping[str, Any]
    ) -> tuple[list[dict[str, Any]], str | None, str | None, bool]:
        """List a Page's posts, newest first, cursor-paged: (items, first cursor, last cursor, has more).

        ``which``: "scheduled" (``/scheduled_posts``), "published" (``/published_posts``, ``/posts``,
        ``/feed``) or "promotable" (``/promotable_posts``: every post; ``is_published=false`` keeps
        drafts and scheduled posts, ``true`` keeps live ones; the edge socialcal uses to find drafts).
        """
        self._promote_due()
        self._page_actor(actor, page_id, write=False)
        limit = parse_limit(params)
        since = parse_time(params.get("since"), "since")
        until = parse_time(params.get("until"), "until")
        fields = _fields_or(parse_fields(param_str(params, "fields")), ("id", "created_time", "message"))
        if which == "promotable":
            live = params.get("is_published")
            wanted = {"published", "scheduled", "draft"} if live in (None, "") else (
                {"published"} if param_bool(params, "is_published", True) else {"scheduled", "draft"})
        else:
            wanted = {"scheduled"} if which == "scheduled" else {"published"}
        posts = [
            record for record in self._page_objects(page_id)
            if isinstance(record, PostRecord) and not record.deleted and record.status in wanted
        ]
        if since is not None:
            posts = [post for post in posts if post.shown_time >= since]
        if until is not None:
            posts = [post for post in posts if post.shown_time <= until]
        posts.sort(key=lambda post: (post.shown_time, post.seq), reverse=True)
        after = _decode_cursor(param_str(params, "after"))
        if after is not None:
            posts = [post for post in posts if (post.shown_time, post.seq) < after]
        chunk, more = posts[:limit], len(posts) > limit
        items = [self._render_post(post, fields) for post in chunk]
        first = _encode_cursor(chunk[0].shown_time, chunk[0].seq) if chunk else None
        last = _encode_cursor(chunk[-1].shown_time, chunk[-1].seq) if chunk else None
        return items, first, last, more

    @_locked
    def page_insights(
        self, actor: TokenRecord, page_id: str, params: Mapping[str, Any]
    ) -> tuple[list[dict[str, Any]], date, date]:
        """GET /{page}/insights: daily series; returns (data, since, until) for the paging links.

        Values cover measured days ``since`` .. ``until - 1``; each carries ``end_time`` = day + 1
        at 08:00 UTC, so the first ``end_time`` is ``since`` + 1 day, as on Graph. ``until`` is
        capped at today: a day is reported once it is over.
        """
        page = self._page_actor(actor, page_id, write=False)
        metrics = [name.strip() for name in (param_str(params, "metric") or "").split(",") if name.strip()]
        if not metrics:
            raise invalid("The parameter metric is required")
        for metric in metrics:
            _check_metric(metric, series.PAGE_METRICS)
        period = param_str(params, "period") or "day"
        if period != "day":
            raise invalid(f"The sandbox serves period=day only (got period={period})")
        today = self.today()
        until_ts = parse_time(params.get("until"), "until")
        since_ts = parse_time(params.get("since"), "since")
        until = _utc_date(until_ts) if until_ts is not None else today
        since = _utc_date(since_ts) if since_ts is not None else until - timedelta(days=2)
        if since > until:
            raise invalid("since must be before until")
        if (until - since).days > MAX_INSIGHTS_DAYS:
            raise invalid(f"There cannot be more than {MAX_INSIGHTS_DAYS} days ({MAX_INSIGHTS_DAYS * 86400} s) "
                          "between since and until")
        last_day = min(until, today) - timedelta(days=1)
        data = []
        for metric in metrics:
            spec = series.PAGE_METRICS[metric]
            values = [
                {"value": value, "end_time": f"{(day + timedelta(days=1)).isoformat()}T08:00:00+0000"}
                for day, value in series.series(self.seed, page.page_id, metric, since, last_day, page.anomaly_day)
            ]
            data.append({
                "name": metric, "period": "day", "values": values, "title": spec.title,
                "description": spec.description, "id": f"{page.page_id}/insights/{metric}/day",
            })
        return data, since, until

    @_locked
    def post_insights(self, actor: TokenRecord, post_id: str, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        """GET /{post}/insights?metric=post_media_view: lifetime values (0 until the post is live)."""
        self._promote_due()
        record = self._owned(actor, post_id, "GET")
        if not isinstance(record, PostRecord):
            raise not_found(post_id, "GET")
        metrics = [name.strip() for name in (param_str(params, "metric") or "").split(",") if name.strip()]
        if not metrics:
            raise invalid("The parameter metric is required")
        return self._post_insights_data(record, metrics)

    def _post_insights_data(self, post: PostRecord, metrics: list[str]) -> list[dict[str, Any]]:
        data = []
        for metric in metrics:
            _check_metric(metric, series.POST_METRICS)
            value = series.post_metric_value(self.seed, post.id, metric) if post.published else 0
            data.append({
                "name": metric, "period": "lifetime", "values": [{"value": value}],
                "title": metric.replace("_", " ").capitalize(), "description": series.POST_METRICS[metric],
                "id": f"{post.id}/insights/{metric}/lifetime",
            })
        return data

    @_locked
    def video_status(self, video: VideoRecord) -> dict[str, Any]:
        """Graph's ``status`` field of a video: not ready until uploaded and processed."""
        if video.uploaded_time is None:
            return {"video_status": "processing", "uploading_phase": {"status": "not_started"},
                    "processing_phase": {"status": "not_started"}, "publishing_phase": {"status": "not_started"}}
        if self.now() - video.uploaded_time < self.video_processing_seconds:
            return {"video_status": "processing", "uploading_phase": {"status": "complete"},
                    "processing_phase": {"status": "in_progress"}, "publishing_phase": {"status": "not_started"}}
        publishing = "complete" if video.post_id else "not_started"
        return {"video_status": "ready", "uploading_phase": {"status": "complete"},
                "processing_phase": {"status": "complete"}, "publishing_phase": {"status": publishing}}

    @_locked
    def debug_token(self, actor: TokenRecord, input_token: str | None) -> dict[str, Any]:
        record = self._tokens.get(input_token or "")
        if record is None:
            return {"data": {"is_valid": False, "error": {"code": 190, "message": "Invalid OAuth access token."}}}
        return {"data": {
            "app_id": "1000000000001", "type": "PAGE" if record.kind == "page" else "USER",
            "application": "socialcal sandbox", "is_valid": not (record.revoked or record.expired),
            "expires_at": 0, "data_access_expires_at": 0,
            "scopes": ["pages_show_list", "pages_read_engagement", "pages_manage_posts", "read_insights"],
            **({"profile_id": record.page_id} if record.page_id else {"user_id": record.user_id}),
        }}

    # -- rendering -----------------------------------------------------------------------------

    def _render_page(self, page: PageRecord, fields: list[FieldSpec] | None, actor: TokenRecord,
                     *, listing: bool = False) -> dict[str, Any]:
        specs = _fields_or(fields, ("name", "id"))
        manages = actor.kind == "user" and page.page_id in actor.page_ids
        followers = series.metric_value(self.seed, page.page_id, "page_follows", self.today() - timedelta(days=1))
        values: dict[str, Any] = {
            "id": page.page_id, "name": page.name, "category": page.category,
            "category_list": [{"id": "2612", "name": page.category}],
            "link": f"https://www.facebook.com/{page.page_id}", "followers_count": followers,
            "tasks": list(page.tasks),
        }
        if manages or (actor.kind == "page" and actor.page_id == page.page_id):
            values["access_token"] = page.token
        return {spec.name: values[spec.name] for spec in specs if spec.name in values}

    def _render_post(self, post: PostRecord, specs: list[FieldSpec]) -> dict[str, Any]:
        page_id, _, local = post.id.partition("_")
        engagement = series.post_engagement(self.seed, post.id) if post.published else None
        out: dict[str, Any] = {}
        for spec in specs:
            name = spec.name
            if name == "id":
                out["id"] = post.id
            elif name == "message" and post.message is not None:
                out["message"] = post.message
            elif name == "created_time":
                out["created_time"] = iso(post.shown_time)
            elif name == "updated_time":
                out["updated_time"] = iso(post.updated_time or post.created_time)
            elif name == "permalink_url":
                out["permalink_url"] = f"https://www.facebook.com/{page_id}/posts/{local}"
            elif name == "is_published":
                out["is_published"] = post.published
            elif name == "scheduled_publish_time" and post.scheduled_publish_time is not None:
                out["scheduled_publish_time"] = post.scheduled_publish_time
            elif name == "status_type":
                out["status_type"] = {"photo": "added_photos", "album": "added_photos", "video": "added_video",
                                      "reel": "added_video", "link": "shared_story"}.get(post.kind,
                                                                                        "mobile_status_update")
            elif name == "from":
                page = self._pages.get(post.page_id)
                out["from"] = {"id": post.page_id, "name": page.name if page else ""}
            elif name == "link" and post.link:
                out["link"] = post.link
            elif name == "full_picture":
                media = post.photo_id or (post.attached_media[0] if post.attached_media else None)
                photo = self._objects.get(media) if media else None
                if isinstance(photo, PhotoRecord):
                    out["full_picture"] = photo.url
            elif name == "attachments":
                out["attachments"] = {"data": self._attachments(post)}
            elif name in ("reactions", "comments"):
                total = (engagement.reactions if name == "reactions" else engagement.comments) if engagement else 0
                edge: dict[str, Any] = {"data": []}
                if spec.modifiers.get("summary", "").lower() in ("true", "1", "total_count"):
                    edge["summary"] = ({"total_count": total, "viewer_reaction": "NONE"} if name == "reactions"
                                       else {"order": "ranked", "total_count": total, "can_comment": True})
                out[name] = edge
            elif name == "shares":
                if engagement and engagement.shares:
                    out["shares"] = {"count": engagement.shares}
            elif name == "insights":
                metrics = [m.strip() for m in spec.modifiers.get("metric", "post_media_view").split(",") if m.strip()]
                out["insights"] = {"data": self._post_insights_data(post, metrics)}
        return out

    def _attachments(self, post: PostRecord) -> list[dict[str, Any]]:
        if post.kind == "album":
            return [{"media_type": "album", "type": "album", "subattachments": {"data": [
                {"media_type": "photo", "target": {"id": media_id}} for media_id in post.attached_media]}}]
        if post.kind == "photo":
            target = post.photo_id or (post.attached_media[0] if post.attached_media else None)
            return [{"media_type": "photo", "type": "photo", "target": {"id": target}}]
        if post.kind in ("video", "reel"):
            return [{"media_type": "video", "type": "video_inline", "target": {"id": post.video_id}}]
        if post.kind == "link":
            return [{"media_type": "link", "type": "share", "url": post.link}]
        return []

    def _render_photo(self, photo: PhotoRecord, fields: list[FieldSpec] | None) -> dict[str, Any]:
        values: dict[str, Any] = {
            "id": photo.id, "created_time": iso(photo.created_time),
            "link": f"https://www.facebook.com/photo/?fbid={photo.id}",
            "images": [{"source": photo.url, "height": 1080, "width": 1080}],
        }
        if photo.caption is not None:
            values["name"] = photo.caption
        if photo.alt_text is not None:
            values["alt_text_custom"] = photo.alt_text
        story = photo.post_id or photo.attached_to
        if story:
            values["page_story_id"] = story
        specs = _fields_or(fields, ("id", "created_time", "name"))
        return {spec.name: values[spec.name] for spec in specs if spec.name in values}

    def _render_video(self, video: VideoRecord, fields: list[FieldSpec] | None) -> dict[str, Any]:
        post = self._objects.get(video.post_id) if video.post_id else None
        values: dict[str, Any] = {
            "id": video.id, "created_time": iso(video.created_time), "status": self.video_status(video),
            "permalink_url": f"/{video.page_id}/videos/{video.id}/",
            "published": bool(isinstance(post, PostRecord) and post.published),
        }
        if video.description is not None:
            values["description"] = video.description
        if video.title is not None:
            values["title"] = video.title
        if video.post_id:
            values["post_id"] = video.post_id
        specs = _fields_or(fields, ("id", "created_time", "description"))
        return {spec.name: values[spec.name] for spec in specs if spec.name in values}


# --------------------------------------------------------------------------------------------
# Module helpers


def _check_metric(metric: str, known: Mapping[str, Any]) -> None:
    replacement = series.deprecated_replacement(metric)
    if replacement is not None:
        hint = f"; use {replacement}" if replacement else ""
        raise invalid(f"The value must be a valid insights metric: {metric} has been deprecated{hint}")
    if metric not in known:
        raise invalid(f"The value must be a valid insights metric: {metric} is not a valid insights metric")


def _fault_message(code: int) -> str:
    return {
        1: "An unknown error has occurred.",
        2: "An unexpected error has occurred. Please retry your request later.",
    }.get(code, RATE_LIMIT_MESSAGES.get(code, f"(#{code}) Sandbox fault"))


def _utc_date(ts: float) -> date:
    return datetime.fromtimestamp(ts, timezone.utc).date()


def _encode_cursor(shown_time: float, seq: int) -> str:
    return base64.urlsafe_b64encode(f"{shown_time!r}:{seq}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str | None) -> tuple[float, int] | None:
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        shown, seq = raw.rsplit(":", 1)
        return float(shown), int(seq)
    except (ValueError, UnicodeDecodeError):
        raise invalid("Param after is not a valid cursor") from None
