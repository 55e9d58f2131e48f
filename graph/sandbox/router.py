"""Graph's routes: an HTTP-shaped request in, a :class:`~graph.sandbox.reply.Reply` out.

Version prefixes, tokens (header, body or URL), route kinds for stats and fault rules, dispatch to
:class:`~graph.sandbox.state.SandboxState`, Graph batch requests, paging links and the faults that
act after a write (``apply_then_fail``, ``drop``, ``timeout``). No socket code, so batch items
reuse it and tests can drive it in-process; ``/_sandbox`` goes to :mod:`graph.sandbox.admin`.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import traceback
from datetime import date, datetime, timedelta, timezone
from datetime import time as dtime
from typing import Any, Mapping
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

from graph.sandbox.admin import ADMIN_PREFIX, admin_reply
from graph.sandbox.errors import SandboxError, invalid, nonexisting_field, not_found
from graph.sandbox.params import param_str, parse_fields
from graph.sandbox.records import CallContext, TokenRecord
from graph.sandbox.reply import Reply
from graph.sandbox.state import SandboxState

API_VERSION = "v24.0"
MAX_BATCH = 50
_VERSION = re.compile(r"^/v\d+(?:\.\d+)?(?=/|$)")
_UPLOAD = re.compile(r"^/(?:rupload|video-upload)(?:/v\d+(?:\.\d+)?)?/(?P<video>[^/]+)/?$")
# The listing edges the Page node has (SDK page.py get_*). promotable_posts is not one: Meta removed it
# with v3.3 (2019), and like every edge a node lacks it answers code 100 "nonexisting field".
_LIST_EDGES = {"scheduled_posts": "scheduled", "published_posts": "published", "posts": "published",
               "feed": "published"}
_NODE_TYPES = {"page": "Page", "post": "PagePost", "photo": "Photo", "video": "Video"}


class Router:
    """Maps one HTTP-shaped request onto :class:`SandboxState` and renders Graph's response."""

    def __init__(self, state: SandboxState, base_url: str = "") -> None:
        self.state = state
        self.base_url = base_url
        self._trace = 0
        self._trace_lock = threading.Lock()

    # -- entry point -------------------------------------------------------------------------

    def handle(
        self,
        method: str,
        path: str,
        query: Mapping[str, Any],
        body: Mapping[str, Any],
        headers: Mapping[str, str],
        *,
        base_url: str | None = None,
    ) -> Reply:
        """Serve one request. ``headers`` keys are lower-case; ``base_url`` is how the client reached us."""
        base = (base_url or self.base_url).rstrip("/")
        if path == ADMIN_PREFIX or path.startswith(ADMIN_PREFIX + "/"):
            return admin_reply(self.state, method, path[len(ADMIN_PREFIX):] or "/", query, body)
        if self.state.latency_ms > 0:
            self.state.stopping.wait(self.state.latency_ms / 1000.0)
        try:
            return self._graph(method, path, query, body, headers, base)
        except Exception:  # a sandbox bug must look like Graph's code 1, and be visible to tests
            self.state.record_internal_error(traceback.format_exc())
            return self._error(SandboxError(1, "An unknown error has occurred. (sandbox internal error)"), {})

    # -- Graph requests ------------------------------------------------------------------------

    def _graph(self, method: str, path: str, query: Mapping[str, Any], body: Mapping[str, Any],
               headers: Mapping[str, str], base: str) -> Reply:
        params = {**query, **body}
        token, token_in_url = _token(headers, query, body)
        upload = _UPLOAD.match(path)
        if upload:
            segments = [unquote(upload.group("video"))]
            kind = "rupload"
        else:
            segments = [unquote(part) for part in _VERSION.sub("", path).strip("/").split("/") if part]
            if not segments and method == "POST" and params.get("batch") is not None:
                return self._batch(params, token, headers, base)
            kind = ""
            if segments[:2] == ["oauth", "access_token"] and len(segments) == 2:
                return self._oauth(method, query, params)
        kind, page_id = self._route_kind(method, segments, kind)
        ctx = self.state.begin_call(token, method, kind, page_id, token_in_url=token_in_url,
                                    appsecret_proof=param_str(params, "appsecret_proof"))
        if ctx.error is not None:
            return self._finish(ctx, self._error(ctx.error, ctx.headers))
        fault = ctx.fault
        try:
            status, result = 200, self._dispatch(ctx, method, segments, params, headers, base, path)
        except SandboxError as error:
            if fault is not None:
                self.state.release_fault(fault)
            return self._finish(ctx, self._error(error, ctx.headers))
        reply = Reply(status, result, dict(ctx.headers))
        if fault is not None:
            if fault.mode == "apply_then_fail":
                reply = self._error(SandboxError(fault.code, fault.message or "An unknown error has occurred.",
                                                 subcode=fault.subcode, http_status=fault.http_status or 500,
                                                 is_transient=True), ctx.headers)
            elif fault.mode == "drop":
                reply.action = "drop"
            elif fault.mode == "timeout":
                reply.action = "timeout"
                reply.delay = fault.seconds if fault.seconds is not None else self.state.fault_timeout_seconds
        return self._finish(ctx, reply)

    def _oauth(self, method: str, query: Mapping[str, Any], params: Mapping[str, Any]) -> Reply:
        """/oauth/access_token (fb_exchange_token): no access token; the app's id and secret authenticate."""
        ctx = CallContext(method=method, kind="oauth")
        in_url = any(name in query for name in ("client_secret", "fb_exchange_token"))
        self.state.count_oauth_call(token_in_url=in_url)
        try:
            return self._finish(ctx, Reply(200, self.state.exchange_token(params)))
        except SandboxError as error:
            return self._finish(ctx, self._error(error, {}))

    def _route_kind(self, method: str, segments: list[str], kind: str) -> tuple[str, str | None]:
        """The route kind used by stats and fault rules, and the Page the call is about."""
        if kind == "rupload":
            _, page_id = self.state.object_page(segments[0])
            return kind, page_id
        if not segments:
            return "root", None
        head = segments[0]
        if head == "me":
            return (segments[1] if len(segments) > 1 else "me"), None
        if head == "debug_token":
            return "debug_token", None
        object_kind, page_id = self.state.object_page(head)
        if len(segments) == 1:
            return object_kind, page_id
        edge = segments[1]
        if edge == "insights" and object_kind == "post":
            return "post_insights", page_id
        return edge, page_id

    def _dispatch(self, ctx: CallContext, method: str, segments: list[str], params: Mapping[str, Any],
                  headers: Mapping[str, str], base: str, path: str) -> Any:
        actor = ctx.token
        assert actor is not None
        state = self.state
        if ctx.kind == "rupload":
            if method != "POST":
                raise invalid("The upload endpoint accepts POST only")
            return state.reel_upload(actor, segments[0], headers.get("file_url") or param_str(params, "file_url"))
        if not segments:
            raise invalid("Unknown path components")
        head = segments[0]
        if head == "me" and actor.kind == "page" and len(segments) > 1 and segments[1] != "accounts":
            head = actor.page_id or head  # /me/feed with a Page token is the Page's own feed
        if len(segments) == 1:
            if head == "me":
                return state.me(actor, parse_fields(param_str(params, "fields")))
            if head == "debug_token":
                return state.debug_token(actor, param_str(params, "input_token"))
            if method == "GET":
                return state.get_object(actor, head, parse_fields(param_str(params, "fields")))
            if method == "POST":
                return state.update_object(actor, head, params)
            if method == "DELETE":
                return state.delete_object(actor, head)
            raise invalid(f"Unsupported method {method}")
        if len(segments) > 2:
            raise invalid(f"Unknown path components: /{'/'.join(segments[2:])}")
        edge = segments[1]
        if head == "me" and edge == "accounts" and method == "GET":
            items, first, last, more = state.accounts(actor, params)
            return self._page_of(items, first, last, more, base, path, params)
        if method == "GET" and edge in _LIST_EDGES:
            state.check_page_size(params)  # Meta's code 1 "reduce the amount of data", when asked to
            items, first, last, more = state.list_posts(actor, head, _LIST_EDGES[edge], params)
            return self._page_of(items, first, last, more, base, path, params)
        if method == "GET" and edge == "videos":
            items, first, last, more = state.list_videos(actor, head, params)
            return self._page_of(items, first, last, more, base, path, params)
        if method == "GET" and edge == "insights":
            if ctx.kind == "post_insights":
                return {"data": state.post_insights(actor, head, params)}
            data, since, until = state.page_insights(actor, head, params)
            return {"data": data, "paging": self._insights_paging(base, path, params, since, until)}
        if method == "POST":
            if edge == "feed":
                return state.create_feed_post(actor, head, params)
            if edge == "photos":
                return state.create_photo(actor, head, params)
            if edge == "videos":
                return state.create_video(actor, head, params)
            if edge == "video_reels":
                return self._reels(actor, head, params, base)
        kind = state.object_page(head)[0] if head != "me" else "page"
        if kind == "object":
            raise not_found(head, method)
        raise nonexisting_field(edge, _NODE_TYPES.get(kind, "Page"))

    def _reels(self, actor: TokenRecord, page_id: str, params: Mapping[str, Any], base: str) -> dict[str, Any]:
        phase = (param_str(params, "upload_phase") or "").lower()
        if phase == "start":
            started = self.state.reel_start(actor, page_id)
            video_id = started["video_id"]
            return {"video_id": video_id, "upload_url": f"{base}/rupload/{API_VERSION}/{video_id}"}
        if phase == "finish":
            return self.state.reel_finish(actor, page_id, params)
        raise invalid("Param upload_phase must be one of start, finish")

    def _batch(self, params: Mapping[str, Any], token: str | None, headers: Mapping[str, str], base: str) -> Reply:
        """POST / with ``batch``: each item is a full call (counted, faulted); dropped ones are null."""
        raw = params.get("batch")
        try:
            items = json.loads(raw) if isinstance(raw, str) else raw
        except ValueError:
            items = None
        if not isinstance(items, list):
            return self._error(invalid("Param batch must be a JSON array"), {})
        if len(items) > MAX_BATCH:
            return self._error(invalid(f"Too many requests in batch message. Maximum batch size is {MAX_BATCH}"), {})
        results: list[Any] = []
        last_headers: dict[str, str] = {}
        for item in items:
            if not isinstance(item, dict) or not item.get("relative_url"):
                results.append({"code": 400, "headers": [], "body": json.dumps(
                    invalid("Each batch item needs method and relative_url").body(self._trace_id()))})
                continue
            split = urlsplit("/" + str(item["relative_url"]).lstrip("/"))
            item_query = dict(parse_qsl(split.query, keep_blank_values=True))
            item_body = dict(parse_qsl(item.get("body") or "", keep_blank_values=True)) \
                if isinstance(item.get("body"), str) else dict(item.get("body") or {})
            item_headers = dict(headers)
            if token and "access_token" not in item_body and "access_token" not in item_query:
                item_headers["authorization"] = f"OAuth {token}"
            reply = self._graph(str(item.get("method", "GET")).upper(), split.path, item_query, item_body,
                                item_headers, base)
            last_headers = {k: v for k, v in reply.headers.items() if k.lower().startswith("x-")}
            if reply.action != "respond":
                results.append(None)  # as Graph does for items that timed out
                continue
            results.append({
                "code": reply.status,
                "headers": [{"name": k, "value": v} for k, v in reply.headers.items()],
                "body": json.dumps(reply.body),
            })
        return Reply(200, results, last_headers)

    # -- rendering -----------------------------------------------------------------------------

    def _finish(self, ctx: CallContext, reply: Reply) -> Reply:
        code = reply.body["error"].get("code") if isinstance(reply.body, dict) and "error" in reply.body else None
        self.state.finish_call(ctx, reply.status, code, ctx.fault.mode if ctx.fault else None)
        return reply

    def _trace_id(self) -> str:
        with self._trace_lock:
            self._trace += 1
            number = self._trace
        return "A" + hashlib.sha256(f"{self.state.seed}:{number}".encode()).hexdigest()[:22]

    def _error(self, error: SandboxError, headers: Mapping[str, str]) -> Reply:
        return Reply(error.http_status, error.body(self._trace_id()), dict(headers))

    @staticmethod
    def _link(base: str, path: str, params: Mapping[str, Any], **changes: Any) -> str:
        """A paging link: same path and parameters, never the token (socialcal sends it in a header)."""
        query = {k: v for k, v in params.items()
                 if k not in ("access_token", "appsecret_proof", "after", "before") and isinstance(v, (str, int))}
        query.update({k: v for k, v in changes.items() if v is not None})
        return f"{base}{path}?{urlencode(query)}"

    def _page_of(self, items: list[Any], first: str | None, last: str | None, more: bool,
                 base: str, path: str, params: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {"data": items}
        if items:
            paging: dict[str, Any] = {"cursors": {"before": first, "after": last}}
            if more:
                paging["next"] = self._link(base, path, params, after=last)
            out["paging"] = paging
        return out

    def _insights_paging(self, base: str, path: str, params: Mapping[str, Any], since: date, until: date) -> dict[str, str]:
        span = max(1, (until - since).days)

        def ts(day: date) -> int:
            return int(datetime.combine(day, dtime(0), timezone.utc).timestamp())

        shift = timedelta(days=span)
        return {
            "previous": self._link(base, path, params, since=ts(since - shift), until=ts(until - shift)),
            "next": self._link(base, path, params, since=ts(since + shift), until=ts(until + shift)),
        }


def _token(headers: Mapping[str, str], query: Mapping[str, Any], body: Mapping[str, Any]) -> tuple[str | None, bool]:
    """The access token from ``Authorization: OAuth|Bearer``, else ``access_token``; and whether it was in the URL."""
    auth = headers.get("authorization", "")
    match = re.match(r"\s*(?:OAuth|Bearer)\s+(\S+)", auth, re.IGNORECASE)
    in_url = bool(query.get("access_token"))
    if match:
        return match.group(1), in_url
    if body.get("access_token"):
        return str(body["access_token"]), in_url
    if in_url:
        return str(query["access_token"]), True
    return None, False
