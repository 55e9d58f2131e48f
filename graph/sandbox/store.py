"""The core of the sandbox's state: Pages, tokens and every object ever created, under one lock.

Why it is built this way:

* **One re-entrant lock** guards everything. Each public method of the state takes it once (the
  :func:`locked` decorator), so a check and the write it guards (e.g. "this photo is not attached
  yet" and "attach it") are atomic even when many workers call at the same time; that is what
  makes exactly-once assertions on the sandbox sound.
* **Every object ever created is kept** (deleted ones are flagged, not dropped), so tests can count
  what reached a Page exactly once through :meth:`PageStore.objects`.
* **Scheduled posts go live lazily**: every read or write first promotes what is due
  (:meth:`PageStore._promote_due`), so the sandbox needs no timer thread and ``advance_clock``
  takes effect at once.

The rules (:mod:`~graph.sandbox.limits`, :mod:`~graph.sandbox.faults`,
:mod:`~graph.sandbox.publishing`, :mod:`~graph.sandbox.reads`, :mod:`~graph.sandbox.insights`) are
mixins over :class:`PageStore`; :class:`graph.sandbox.state.SandboxState` puts them together.
"""

from __future__ import annotations

import functools
import hashlib
import re
import threading
import time
from datetime import date, datetime, timedelta, timezone
from typing import Any, Callable, Iterable, TypeVar

from graph.sandbox import series
from graph.sandbox.errors import SandboxError, not_found
from graph.sandbox.records import (
    DEFAULT_TASKS,
    PageRecord,
    PhotoRecord,
    PostRecord,
    TokenRecord,
    VideoRecord,
)

PAGE_TOKEN_REQUIRED = 2069032

T = TypeVar("T")


SHORT_LIVED_SECONDS = 2 * 3600  # a user token from the login dialog: "about an hour or two"
LONG_LIVED_SECONDS = 60 * 86400  # after fb_exchange_token: about 60 days
DATA_ACCESS_SECONDS = 90 * 86400  # data access expires 90 days after the person last used the app


def locked(method: Callable[..., T]) -> Callable[..., T]:
    """Run ``method`` under the state's lock: one public call is one atomic step."""

    @functools.wraps(method)
    def wrapper(self: "PageStore", *args: Any, **kwargs: Any) -> T:
        with self._lock:
            return method(self, *args, **kwargs)

    return wrapper


def _digest(*parts: object) -> str:
    return hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest()


class PageStore:
    """Pages, tokens and the objects created on them; the clock; ownership checks."""

    # Call counters (what ``stats()`` returns); :class:`~graph.sandbox.state.SandboxState` creates
    # and resets them, every rule adds to them.
    _stats: dict[str, Any]

    def __init__(self, seed: int = 1, clock: Callable[[], float] = time.time) -> None:
        self._lock = threading.RLock()
        self.seed = seed
        self.clock = clock
        self.clock_offset = 0.0
        self._pages: dict[str, PageRecord] = {}
        self._tokens: dict[str, TokenRecord] = {}
        self._page_seq = 0
        self._id_seq = 0
        self._reset_objects()

    # -- clock ---------------------------------------------------------------------------------

    def now(self) -> float:
        return self.clock() + self.clock_offset

    def today(self) -> date:
        return datetime.fromtimestamp(self.now(), timezone.utc).date()

    @locked
    def advance_clock(self, seconds: float) -> float:
        """Move the sandbox's notion of time forward (budget windows, schedules); returns now."""
        self.clock_offset += float(seconds)
        return self.now()

    # -- objects -------------------------------------------------------------------------------

    def _reset_objects(self) -> None:
        self._objects: dict[str, PostRecord | PhotoRecord | VideoRecord] = {}
        self._by_page: dict[str, list[str]] = {}  # object ids per Page, in creation order
        self._scheduled: set[str] = set()

    def _store(self, record: PostRecord | PhotoRecord | VideoRecord) -> None:
        self._objects[record.id] = record
        self._by_page.setdefault(record.page_id, []).append(record.id)

    def _page_objects(self, page_id: str) -> list[PostRecord | PhotoRecord | VideoRecord]:
        return [self._objects[object_id] for object_id in self._by_page.get(str(page_id), ())]

    # -- Pages and tokens ----------------------------------------------------------------------

    @locked
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
        now = self.now()
        self._tokens[token] = TokenRecord(token=token, kind="page", page_id=page_id,
                                          data_access_expires_at=now + DATA_ACCESS_SECONDS)
        if user is None:
            user = TokenRecord(token=user_token, kind="user",
                               user_id=str(500000000000000 + int(_digest(self.seed, user_token)[:8], 16)),
                               expires_at=now + SHORT_LIVED_SECONDS,
                               data_access_expires_at=now + DATA_ACCESS_SECONDS)
            self._tokens[user_token] = user
        user.page_ids.append(page_id)
        return page

    @locked
    def pages(self) -> list[PageRecord]:
        return sorted(self._pages.values(), key=lambda page: page.seq)

    @locked
    def page(self, page_id: str) -> PageRecord | None:
        return self._pages.get(str(page_id))

    @locked
    def anomaly_for(self, page_id: str) -> tuple[str, date] | None:
        """The Page's planted anomaly as (metric, measured day), or None for a clean Page.

        Graph reports the value for measured day D with ``end_time`` D + 1 (08:00 UTC).
        """
        page = self._pages.get(str(page_id))
        if page is None or page.anomaly_day is None:
            return None
        return series.ANOMALY_METRIC, page.anomaly_day

    @locked
    def set_engaged_users(self, page_id: str, engaged_users: int) -> dict[str, Any]:
        """Tell the sandbox how many engaged users a Page has: its limit is calls_per_window x that."""
        page = self._pages.get(str(page_id))
        if page is None:
            raise ValueError(f"unknown page {page_id}")
        if int(engaged_users) < 1:
            raise ValueError("engaged_users must be at least 1 (Meta counts at least one)")
        page.engaged_users = int(engaged_users)
        return page.to_dict()

    @locked
    def add_page_token(self, page_id: str) -> str:
        """Another Page token for an existing Page (a second tenant's connection, a reconnect): Meta
        issues one per user and app, and every one of them draws on the same Page limit."""
        page = self._pages.get(str(page_id))
        if page is None:
            raise ValueError(f"unknown page {page_id}")
        self._page_seq += 1
        token = "EAAS" + _digest(self.seed, "extra-page-token", page.page_id, self._page_seq)[:56]
        self._tokens[token] = TokenRecord(token=token, kind="page", page_id=page.page_id,
                                          data_access_expires_at=self.now() + DATA_ACCESS_SECONDS)
        return token

    @locked
    def set_token(self, token: str, *, expires_at: float | None = None, data_access_expires_at: float | None = None,
                  scopes: Iterable[str] | None = None) -> bool:
        """Change what debug_token reports for a token; False when the token is unknown."""
        record = self._tokens.get(token)
        if record is None:
            return False
        if expires_at is not None:
            record.expires_at = float(expires_at)
        if data_access_expires_at is not None:
            record.data_access_expires_at = float(data_access_expires_at)
        if scopes is not None:
            record.scopes = tuple(str(scope) for scope in scopes)
        return True

    @locked
    def revoke_token(self, token: str) -> bool:
        """Invalidate a token (190/467 from now on); False when the token is unknown."""
        record = self._tokens.get(token)
        if record is None:
            return False
        record.revoked = True
        return True

    @locked
    def expire_token(self, token: str) -> bool:
        """Mark a token expired (190/463 from now on); False when the token is unknown."""
        record = self._tokens.get(token)
        if record is None:
            return False
        record.expired = True
        return True

    # -- inspection ----------------------------------------------------------------------------

    @locked
    def objects(self, page_id: str) -> dict[str, list[dict[str, Any]]]:
        """Every post, photo and video ever created for the Page (deleted ones flagged), oldest first."""
        self._promote_due()
        out: dict[str, list[dict[str, Any]]] = {"posts": [], "photos": [], "videos": []}
        for record in self._page_objects(page_id):
            bucket = {PostRecord: "posts", PhotoRecord: "photos", VideoRecord: "videos"}[type(record)]
            out[bucket].append(record.to_dict())
        return out

    @locked
    def object_page(self, object_id: str) -> tuple[str, str | None]:
        """(kind, page id) of an id: ``page``, ``post``, ``photo``, ``video`` or ``object`` (unknown)."""
        if object_id in self._pages:
            return "page", object_id
        record = self._objects.get(object_id)
        if record is None:
            return "object", None
        kind = {PostRecord: "post", PhotoRecord: "photo", VideoRecord: "video"}[type(record)]
        return kind, record.page_id

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
