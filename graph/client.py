"""A thin, non-retrying client for the Graph API calls that publish to and read from a Facebook Page.

Why it looks the way it does:

* **No retries here.** Whether to retry depends on the error class and on what the task already
  stored (DESIGN.md rules 3–4), so every failure is raised as a ``graph.errors`` class and the task
  decides.
* **Primitives, not flows.** Albums and Reels take several calls, and the caller must store each id
  the Graph API returns before making the next call; so each step is its own method.
* **The token never enters a URL.** It travels in ``Authorization: OAuth …``; ``paging.next`` URLs
  from Graph are stripped of ``access_token`` before they are followed.
* **Hooks** let the shared Redis budget refuse a call before it is sent (``before_call`` raises, e.g.
  ``BudgetExhausted``) and learn from Meta's usage headers after it (``after_call``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any, Callable, Iterator, Literal, Mapping, Protocol, Sequence
from urllib.parse import parse_qsl, urlsplit, urlunsplit

import requests
import structlog

from graph.errors import (
    Ambiguous,
    GraphError,
    NotFound,
    RequestTooLarge,
    Transient,
    error_from_exception,
    error_from_response,
)
from graph.answers import (
    InsightSeries,
    absolute_permalink,
    confirmed,
    is_page_post_id,
    decode,
    graph_id,
    listed,
    next_link,
    parse_series,
    path_only,
    strip_url_secrets,
    text_or_none,
    with_limit,
)
from graph.http import ThreadSessions, pooled_session
from graph.usage import Usage
from worker.core.redaction import register_secret

log = structlog.get_logger(__name__)

SCHEDULED_POST_FIELDS = "id,message,scheduled_publish_time,created_time"
# What reconciliation needs of a published post: no engagement expansion, so a page of 100 stays light.
RECONCILE_POST_FIELDS = "id,message,created_time"
# A video's own Page post (not {page-id}_{video-id}) and its permalink: SDK AdVideo fields post_id,
# permalink_url. Meta answers the permalink as a path ("/{page}/videos/{id}/"), made absolute here.
VIDEO_POST_FIELDS = "post_id,permalink_url"
# The Page's videos (SDK Page.get_videos, AdVideo fields): maps a reconciled video post to its video id.
VIDEO_LIST_FIELDS = "id,post_id,description,created_time"
PUBLISHED_POST_FIELDS = (
    "id,message,created_time,permalink_url,shares,"
    "reactions.summary(true).limit(0),comments.summary(true).limit(0)"
)
MANAGED_PAGE_FIELDS = "id,name,access_token,tasks"
# Posts per page of /published_posts. 50, not Graph's 100 maximum: with an insights expansion per post,
# 100 draws code 1 "reduce the amount of data"; 50 keeps a Page with up to 50 recent posts at one call.
# On that error the page is halved (cursor kept) down to the floor, then the read fails.
PUBLISHED_PAGE_SIZE = 50
MIN_PAGE_SIZE = 5
INSIGHTS_MAX_RANGE = timedelta(days=90)
INSIGHTS_MAX_PAGES_PER_RANGE = 20
VideoState = Literal["PUBLISHED", "SCHEDULED", "DRAFT"]
When = datetime | int | float


def token_fingerprint(token: str) -> str:
    """A short, non-reversible key for a token: budgets and logs can name it without holding it."""
    return hashlib.sha256(token.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class CallInfo:
    """One Graph call as the hooks see it: enough to budget and log, never the token."""

    method: str
    path: str
    is_write: bool
    token_key: str
    scope_id: str | None = None


class CallHooks(Protocol):
    def before_call(self, call: CallInfo) -> None:
        """Raise a ``GraphError`` (e.g. ``BudgetExhausted``) to refuse the call; nothing is sent."""

    def after_call(self, call: CallInfo, usage: Usage, error: GraphError | None) -> None:
        """Called once per request sent, with Meta's usage headers and the error, if any."""


@dataclass(frozen=True)
class PhotoResult:
    id: str
    post_id: str | None  # absent for unpublished (album) photos


@dataclass(frozen=True)
class VideoPost:
    """A video's (or Reel's) Page post, read from the Video node after upload or finish."""

    post_id: str | None  # absent until Meta has made the post (it may lag the upload)
    permalink_url: str | None


@dataclass(frozen=True)
class ReelStart:
    video_id: str
    upload_url: str


@dataclass(frozen=True)
class ManagedPage:
    id: str
    name: str
    access_token: str = field(repr=False)
    tasks: tuple[str, ...] = ()


@dataclass(frozen=True)
class PageInfo:
    id: str
    name: str


def unix_seconds(when: When) -> int:
    """Integer Unix seconds, as Graph wants; a naive datetime is taken as UTC (how the DB stores it)."""
    if isinstance(when, datetime):
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        return int(when.timestamp())
    return int(when)


def _flag(value: bool) -> str:
    return "true" if value else "false"


def _publish_fields(published: bool, scheduled_at: When | None, draft: bool = False) -> dict[str, Any]:
    """``published`` / ``scheduled_publish_time`` / ``unpublished_content_type`` for a create call.

    Graph only accepts scheduled_publish_time together with published=false. A draft is
    ``published=false`` with ``unpublished_content_type=DRAFT`` (SDK page.py ``UnpublishedContentType``,
    accepted by ``create_feed``, ``create_photo`` and ``create_video``): ``published=false`` alone
    makes an unpublished ads-style post that Business Suite need not list as a draft.
    """
    if draft:
        if scheduled_at is not None or published:
            raise ValueError("a draft is neither published nor scheduled")
        return {"published": "false", "unpublished_content_type": "DRAFT"}
    if scheduled_at is not None:
        return {"published": "false", "scheduled_publish_time": unix_seconds(scheduled_at)}
    return {"published": _flag(published)}


def _insight_time(value: date) -> str | int:
    return unix_seconds(value) if isinstance(value, datetime) else value.isoformat()


def _query_time(url: str, name: str) -> int | None:
    raw = dict(parse_qsl(urlsplit(url).query)).get(name)
    if raw is None:
        return None
    if raw.isdigit():
        return int(raw)
    try:
        return unix_seconds(datetime.fromisoformat(raw))
    except ValueError:
        return None


class GraphClient:
    """One token's view of the Graph API: give each task its own instance. Calls may run on several
    threads at once (an album's uploads, ``tasks.domain.album_uploads``): the session must then be
    a ``graph.http.ThreadSessions`` (each thread its own ``requests.Session``), as workers' and the
    default one are."""

    def __init__(
        self,
        token: str,
        *,
        base_url: str,
        video_url: str | None = None,
        app_secret: str | None = None,
        connect_timeout: float = 3.05,
        read_timeout: float = 30.0,
        session: requests.Session | ThreadSessions | None = None,
        hooks: CallHooks | None = None,
        scope_id: str | None = None,
    ) -> None:
        if not token:
            raise ValueError("a Graph token is required")
        self._token = token
        self.base_url = base_url.rstrip("/")
        self.video_url = (video_url or self._default_video_url()).rstrip("/")
        self._proof = (
            hmac.new(app_secret.encode(), token.encode(), hashlib.sha256).hexdigest() if app_secret else None
        )
        self._secrets = tuple(s for s in (token, app_secret, self._proof) if s)
        for secret in self._secrets:
            register_secret(secret)  # so every log line and stored error masks it
        self.timeout = (connect_timeout, read_timeout)
        self._owns_session = session is None
        self.session = session or ThreadSessions(lambda: pooled_session(pool_connections=4, pool_maxsize=16))
        self.hooks = hooks
        self.scope_id = scope_id
        self.token_key = token_fingerprint(token)
        self.calls = 0  # HTTP requests actually sent (refusals by before_call are not counted)
        self._calls_lock = threading.Lock()  # an album's uploads run on several threads
        self.last_usage: Usage | None = None

    def __repr__(self) -> str:
        return f"GraphClient(base_url={self.base_url!r}, scope_id={self.scope_id!r}, token_key={self.token_key!r})"

    def _default_video_url(self) -> str:
        parts = urlsplit(self.base_url)
        if parts.hostname == "graph.facebook.com":
            return urlunsplit(parts._replace(netloc=parts.netloc.replace("graph.", "graph-video.", 1)))
        return self.base_url  # a sandbox serves both hosts from one address

    def close(self) -> None:
        if self._owns_session:
            self.session.close()

    # ----------------------------------------------------------------------------- plumbing

    def _resolve(self, target: str, host: str) -> tuple[str, str]:
        """(URL to request, path for CallInfo); absolute URLs come from Graph (paging, uploads)."""
        if target.startswith(("https://", "http://")):
            url = strip_url_secrets(target)
            path = urlsplit(url).path
            version = urlsplit(self.base_url).path.rstrip("/")
            if version and path.startswith(version + "/"):
                path = path[len(version):]
            return url, path
        base = self.video_url if host == "video" else self.base_url
        relative = target.lstrip("/")
        return f"{base}/{relative}", f"/{relative}"

    def _call(
        self,
        method: str,
        target: str,
        *,
        params: Mapping[str, Any] | None = None,
        data: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        host: str = "graph",
        is_create: bool = False,
    ) -> dict[str, Any]:
        url, path = self._resolve(target, host)
        is_write = method in ("POST", "DELETE")
        call = CallInfo(method, path, is_write, self.token_key, self.scope_id)
        query = dict(params or {})
        form = dict(data) if data is not None else None
        if self._proof:
            (form if form is not None else query)["appsecret_proof"] = self._proof
        if self.hooks is not None:
            self.hooks.before_call(call)  # may raise (budget refusal): then nothing is sent

        with self._calls_lock:
            self.calls += 1
        error: GraphError | None = None
        try:
            response = self.session.request(
                method,
                url,
                params=query or None,
                data=form,
                headers={**(headers or {}), "Authorization": f"OAuth {self._token}"},
                timeout=self.timeout,
            )
        except requests.RequestException as exc:
            error = error_from_exception(exc, is_write=is_write, scrub=self._secrets)
        if error is not None:
            # Raised outside the except block so the requests exception (whose request object
            # holds the Authorization header) is not chained onto the error.
            self._after(call, Usage(), error)
            raise error

        usage = Usage.from_headers(response.headers)
        self.last_usage = usage
        body = decode(response)
        if response.status_code >= 400 or body is None or "error" in body:
            error = error_from_response(
                response.status_code, body, usage, is_write=is_write, is_create=is_create, scrub=self._secrets
            )
            self._after(call, usage, error)
            raise error
        self._after(call, usage, None)
        assert body is not None
        return body

    def _after(self, call: CallInfo, usage: Usage, error: GraphError | None) -> None:
        if self.hooks is None:
            return
        try:
            self.hooks.after_call(call, usage, error)
        except Exception as exc:  # noqa: BLE001 - a budget hiccup must not lose a returned post id
            log.warning("graph.after_call_failed", path=call.path, error=type(exc).__name__)

    def _pages(
        self,
        target: str,
        params: Mapping[str, Any],
        *,
        max_pages: int | None = None,
        follow: Callable[[str], bool] | None = None,
        shrink_to: int | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Yield each response body, following ``paging.next`` (token stripped) while it has data.

        ``shrink_to``: on code 1 "reduce the amount of data", ask the same page again (same cursor)
        with half the ``limit``, down to this floor; past it, raise ``RequestTooLarge``.
        """
        seen: set[str] = set()
        query: Mapping[str, Any] | None = params
        pages = 0
        while True:
            try:
                body = self._call("GET", target, params=query)
            except RequestTooLarge as error:
                if shrink_to is None:
                    raise
                target, query = self._smaller(target, query, error, shrink_to)
                continue
            pages += 1
            data = listed(body, path_only(target))
            yield body
            next_url = next_link(body)
            if (
                not data
                or next_url is None
                or next_url in seen
                or (max_pages is not None and pages >= max_pages)
                or (follow is not None and not follow(next_url))
            ):
                return
            seen.add(next_url)
            target, query = next_url, None  # the next URL already carries every parameter

    def _smaller(self, target: str, query: Mapping[str, Any] | None, error: RequestTooLarge,
                 floor: int) -> tuple[str, Mapping[str, Any] | None]:
        """The same request with half the page size (at least ``floor``), or ``RequestTooLarge`` at the floor."""
        current = query.get("limit") if query is not None else dict(parse_qsl(urlsplit(target).query)).get("limit")
        try:
            limit = int(current) if current is not None else 25  # Graph's default page size
        except (TypeError, ValueError):
            limit = 25
        if limit <= floor:
            raise RequestTooLarge(
                f"{error.graph_message} (already at {limit} items per page, socialcal's floor: "
                f"{path_only(target)} cannot be read in smaller pages)",
                code=error.code, subcode=error.subcode, type=error.type, fbtrace_id=error.fbtrace_id,
                http_status=error.http_status, usage=error.usage) from None
        smaller = max(floor, limit // 2)
        log.warning("graph.page_size_halved", path=path_only(target), limit=smaller, was=limit)
        if query is not None:
            return target, {**query, "limit": smaller}
        return with_limit(target, smaller), None

    def _items(self, target: str, params: Mapping[str, Any], *, max_pages: int | None = None) -> list[dict[str, Any]]:
        return [
            item
            for body in self._pages(target, params, max_pages=max_pages)
            for item in body["data"]
            if isinstance(item, dict)
        ]

    @staticmethod
    def _created_id(body: Mapping[str, Any], key: str = "id", *, unknown: type[GraphError] = Ambiguous) -> str:
        found = graph_id(body.get(key))
        if found is None:
            # Graph said OK but gave no usable id (missing, a number, a list): we cannot tell what
            # exists, so a create is reconciled like a timeout (``unknown`` says how else to fail).
            got = "no" if body.get(key) is None else f"a malformed ({type(body.get(key)).__name__})"
            raise unknown(f"Graph answered with {got} {key!r}")
        return found

    # ----------------------------------------------------------------------------- publishing

    def create_feed_post(
        self,
        page_id: str,
        *,
        message: str | None = None,
        link: str | None = None,
        published: bool = True,
        scheduled_at: When | None = None,
        attached_media: Sequence[str] = (),
        draft: bool = False,
    ) -> str:
        """Text, link, photo or album post on ``/{page-id}/feed``; returns the post id ``{page}_{post}``.

        ``scheduled_at`` implies ``published=false``; ``draft=True`` makes a Page draft
        (``published=false``, ``unpublished_content_type=DRAFT``). ``attached_media`` are photo ids
        uploaded unpublished (see ``upload_photo``).
        """
        if not (message or link or attached_media):
            raise ValueError("a feed post needs a message, a link or attached media")
        data: dict[str, Any] = _publish_fields(published and not draft, scheduled_at, draft)
        if message:
            data["message"] = message
        if link:
            data["link"] = link
        for index, media_id in enumerate(attached_media):
            data[f"attached_media[{index}]"] = json.dumps({"media_fbid": str(media_id)})
        if attached_media and scheduled_at is not None:
            data["unpublished_content_type"] = "SCHEDULED"  # required for a scheduled album
        return self._created_id(self._call("POST", f"{page_id}/feed", data=data, is_create=True))

    def upload_photo(
        self,
        page_id: str,
        url: str,
        *,
        caption: str | None = None,
        alt_text: str | None = None,
        published: bool = True,
        temporary: bool = False,
        scheduled_at: When | None = None,
    ) -> PhotoResult:
        """One photo on ``/{page-id}/photos``, or an album part (``published=False``, and
        ``temporary=True`` when the album is scheduled, so the photo outlives the 24-hour expiry)."""
        data: dict[str, Any] = {"url": url, **_publish_fields(published, scheduled_at)}
        if caption:
            data["caption"] = caption
        if alt_text:
            data["alt_text_custom"] = alt_text
        if temporary:
            data["temporary"] = "true"
        body = self._call("POST", f"{page_id}/photos", data=data, is_create=True)
        photo_id = self._created_id(body)  # the Photo node: it cannot be updated (SDK photo.py has no api_update)
        post_id = graph_id(body.get("post_id"))
        if post_id is None and body.get("post_id") is not None:
            log.warning("graph.malformed_post_id", path=f"/{page_id}/photos", photo_id=photo_id,
                        got=type(body.get("post_id")).__name__)
        return PhotoResult(id=photo_id, post_id=post_id)

    def upload_video(
        self,
        page_id: str,
        file_url: str,
        *,
        description: str | None = None,
        title: str | None = None,
        published: bool = True,
        scheduled_at: When | None = None,
        draft: bool = False,
    ) -> str:
        """One video on the video host's ``/{page-id}/videos`` (Graph fetches ``file_url``); returns the
        video id. Its Page post is read with ``video_post`` (the create answers only ``{"id"}``)."""
        data: dict[str, Any] = {"file_url": file_url, **_publish_fields(published and not draft, scheduled_at, draft)}
        if description:
            data["description"] = description
        if title:
            data["title"] = title
        return self._created_id(self._call("POST", f"{page_id}/videos", data=data, host="video", is_create=True))

    def video_post(self, video_id: str) -> VideoPost:
        """The video's own Page post id and permalink (``GET /{video-id}?fields=post_id,permalink_url``)."""
        body = self._call("GET", str(video_id), params={"fields": VIDEO_POST_FIELDS})
        return VideoPost(post_id=graph_id(body.get("post_id")), permalink_url=absolute_permalink(body.get("permalink_url")))

    def photo_post_id(self, photo_id: str) -> str | None:
        """The Page post of a published or scheduled photo (``page_story_id``), when ``/photos`` gave none."""
        body = self._call("GET", str(photo_id), params={"fields": "page_story_id"})
        return graph_id(body.get("page_story_id"))

    def video_status(self, video_id: str) -> dict[str, Any]:
        """``status`` of a video or Reel (``video_status``, processing phases): poll until ready."""
        status = self._call("GET", str(video_id), params={"fields": "status"}).get("status")
        return status if isinstance(status, dict) else {}

    def start_reel(self, page_id: str) -> ReelStart:
        """Reel step 1: reserve a video id and the URL to upload to."""
        body = self._call("POST", f"{page_id}/video_reels", data={"upload_phase": "start"})
        # Only an id is reserved (nothing is on the Page yet), so a bad answer is simply transient.
        video_id = self._created_id(body, "video_id", unknown=Transient)
        upload_url = body.get("upload_url")
        if not isinstance(upload_url, str) or not upload_url.startswith(("https://", "http://")):
            raise Transient("Graph answered the Reel start without an upload_url")
        return ReelStart(video_id=video_id, upload_url=upload_url)

    def upload_reel(self, upload_url: str, file_url: str) -> None:
        """Reel step 2: have Meta fetch ``file_url`` into the reserved video (repeatable, so an answer
        without ``success: true`` is simply transient)."""
        confirmed(self._call("POST", upload_url, headers={"file_url": file_url}), "the Reel upload")

    def finish_reel(
        self,
        page_id: str,
        video_id: str,
        *,
        video_state: VideoState = "PUBLISHED",
        description: str | None = None,
        scheduled_at: When | None = None,
    ) -> None:
        """Reel step 3: publish, schedule or keep as draft. Meta answers ``{"success": true}`` only; the
        Reel's post is read afterwards with ``video_post``. Any other answer leaves the outcome unknown."""
        if (video_state == "SCHEDULED") != (scheduled_at is not None):
            raise ValueError("video_state SCHEDULED goes with scheduled_at, and only it")
        data: dict[str, Any] = {"upload_phase": "finish", "video_id": str(video_id), "video_state": video_state}
        if description:
            data["description"] = description
        if scheduled_at is not None:
            data["scheduled_publish_time"] = unix_seconds(scheduled_at)
        body = self._call("POST", f"{page_id}/video_reels", data=data, is_create=True)
        if body.get("success") is not True:
            raise Ambiguous("Graph answered the Reel finish without success: true")

    # ----------------------------------------------------------------------------- existing posts

    @staticmethod
    def _page_post(post_id: str) -> str:
        if not is_page_post_id(post_id):
            # A photo or video id here would reach a node that refuses Page-post parameters (the Photo
            # node has no update at all, SDK photo.py; the Video node takes description, AdVideo.api_update).
            raise ValueError(f"{post_id!r} is not a Page post id ({{page-id}}_{{post-id}})")
        return post_id

    def reschedule_post(self, post_id: str, scheduled_at: When) -> None:
        """``POST /{page-post-id}`` ``scheduled_publish_time`` (SDK PagePost.api_update), confirmed."""
        data = {"scheduled_publish_time": unix_seconds(scheduled_at)}
        confirmed(self._call("POST", self._page_post(post_id), data=data), "the new time")

    def update_message(self, post_id: str, message: str) -> None:
        """``POST /{page-post-id}`` ``message`` (SDK PagePost.api_update), confirmed."""
        confirmed(self._call("POST", self._page_post(post_id), data={"message": message}), "the edit")

    def update_video(self, video_id: str, *, description: str | None = None, scheduled_at: When | None = None,
                     published: bool | None = None) -> None:
        """Edit, reschedule or publish a video or Reel on its Video node: ``description``,
        ``scheduled_publish_time``, ``published`` (SDK AdVideo.api_update; never ``message`` or
        ``is_published``, which are Page-post parameters). Confirmed by ``{"success": true}``."""
        data: dict[str, Any] = {}
        if description is not None:
            data["description"] = description
        if scheduled_at is not None:
            data["scheduled_publish_time"] = unix_seconds(scheduled_at)
        if published is not None:
            data["published"] = _flag(published)
        if not data:
            raise ValueError("nothing to update on the video")
        confirmed(self._call("POST", str(video_id), data=data), "the video update")

    def delete_post(self, post_id: str) -> bool:
        """True when deleted now, False when it was already gone (so a repeated cancel succeeds)."""
        try:
            self._call("DELETE", str(post_id))
        except NotFound:
            return False
        return True

    def list_scheduled_posts(self, page_id: str) -> list[dict[str, Any]]:
        """Every scheduled post on the Page (unpublished posts never show in ``/feed``): for reconciling."""
        return self._items(f"{page_id}/scheduled_posts", {"fields": SCHEDULED_POST_FIELDS, "limit": 100})

    def list_videos(self, page_id: str, *, since: When | None = None, max_pages: int = 3) -> list[dict[str, Any]]:
        """The Page's videos newest first (``GET /{page-id}/videos``): after a video post was found by
        reconciliation, which video it is (a Page post names no video id of its own)."""
        params: dict[str, Any] = {"fields": VIDEO_LIST_FIELDS, "limit": 50}
        if since is not None:
            params["since"] = unix_seconds(since)
        return self._items(f"{page_id}/videos", params, max_pages=max_pages)

    def list_published_posts(
        self, page_id: str, *, since: When | None = None, max_pages: int | None = None,
        fields: str = PUBLISHED_POST_FIELDS,
    ) -> list[dict[str, Any]]:
        """Published posts (with engagement unless ``fields`` says otherwise; missing keys mean
        unknown), newest first. Reconciliation asks ``RECONCILE_POST_FIELDS`` since its intent."""
        return [item for page in self.iter_published_posts(page_id, fields=fields, since=since, max_pages=max_pages)
                for item in page]

    def iter_published_posts(
        self,
        page_id: str,
        *,
        fields: str = PUBLISHED_POST_FIELDS,
        since: When | None = None,
        max_pages: int | None = None,
        follow: Callable[[str], bool] | None = None,
        limit: int = PUBLISHED_PAGE_SIZE,
    ) -> Iterator[list[dict[str, Any]]]:
        """Published posts one result page (``limit``, halved on "reduce the amount of data") at a
        time, so a caller can stop early; ``fields`` may add field expansions such as
        ``insights.metric(post_media_view)``."""
        params: dict[str, Any] = {"fields": fields, "limit": limit}
        if since is not None:
            params["since"] = unix_seconds(since)
        for body in self._pages(f"{page_id}/published_posts", params, max_pages=max_pages, follow=follow,
                                shrink_to=MIN_PAGE_SIZE):
            yield [item for item in body["data"] if isinstance(item, dict)]

    # ----------------------------------------------------------------------------- insights

    def page_insights(
        self, page_id: str, metrics: Sequence[str], *, since: date, until: date, period: str = "day"
    ) -> dict[str, InsightSeries]:
        """Page metrics over [since, until], one request per ≤90-day range carrying every metric.

        ``paging.next`` is followed only while it stays before the range's end: for insights it
        walks the time window forward, and would otherwise run on to today.
        """
        if not metrics:
            return {}
        merged: dict[str, InsightSeries] = {}
        start = since
        while start < until:
            end = min(start + INSIGHTS_MAX_RANGE, until)
            params = {"metric": ",".join(metrics), "period": period,
                      "since": _insight_time(start), "until": _insight_time(end)}
            end_unix = unix_seconds(end if isinstance(end, datetime) else datetime(end.year, end.month, end.day))

            def inside(next_url: str, limit: int = end_unix) -> bool:
                next_since = _query_time(next_url, "since")
                return next_since is None or next_since < limit

            for body in self._pages(f"{page_id}/insights", params,
                                    max_pages=INSIGHTS_MAX_PAGES_PER_RANGE, follow=inside):
                for item in body["data"]:
                    if isinstance(item, dict) and item.get("name"):
                        self._merge_series(merged, parse_series(item))
            start = end
        return merged

    @staticmethod
    def _merge_series(merged: dict[str, InsightSeries], series: InsightSeries) -> None:
        known = merged.get(series.name)
        if known is None:
            merged[series.name] = series
            return
        seen = {repr(value.get("end_time")) for value in known.values}  # repr: end_time may be any JSON
        known.values.extend(v for v in series.values
                            if v.get("end_time") is None or repr(v.get("end_time")) not in seen)
        known.values.sort(key=lambda v: str(v.get("end_time") or ""))

    def post_insights(self, post_id: str, metrics: Sequence[str], *, period: str | None = None) -> dict[str, InsightSeries]:
        """Lifetime (or ``period``) metrics of one post, every metric in one request."""
        params: dict[str, Any] = {"metric": ",".join(metrics)}
        if period:
            params["period"] = period
        body = self._call("GET", f"{post_id}/insights", params=params)
        data = listed(body, f"/{post_id}/insights")
        return {s.name: s for s in (parse_series(i) for i in data if isinstance(i, dict))}

    # ----------------------------------------------------------------------------- Pages

    def list_managed_pages(self) -> list[ManagedPage]:
        """Pages the (user) token manages, each with its own Page token: for ``facebook connect``."""
        pages = []
        for item in self._items("me/accounts", {"fields": MANAGED_PAGE_FIELDS, "limit": 100}):
            token = item.get("access_token")
            if isinstance(token, str) and token:
                register_secret(token)
            page_id = graph_id(item.get("id"))
            if page_id is None or not isinstance(token, str) or not token:
                # Without a well-formed id and a Page token there is nothing to connect; say so.
                log.warning("graph.managed_page_skipped", reason="no well-formed id or Page token",
                            id_type=type(item.get("id")).__name__, has_token=isinstance(token, str) and bool(token))
                continue
            tasks = item.get("tasks")
            pages.append(ManagedPage(
                id=page_id,
                name=text_or_none(item.get("name")) or "",
                access_token=token,
                tasks=tuple(t for t in tasks if isinstance(t, str)) if isinstance(tasks, list) else (),
            ))
        return pages

    def verify_page(self, page_id: str) -> PageInfo:
        """Check the token reaches the Page; raises the mapped ``GraphError`` when it does not."""
        body = self._call("GET", str(page_id), params={"fields": "id,name"})
        found = graph_id(body.get("id"))
        if found is None:
            raise Transient(f"Graph answered /{page_id} without a well-formed id")
        return PageInfo(id=found, name=text_or_none(body.get("name")) or "")
