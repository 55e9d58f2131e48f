"""The sandbox Graph server: a real HTTP server on loopback that plays Meta's Graph API.

Used by the demo, the integration and fault tests, and the benchmarks, so socialcal's real HTTP
client, retries, budget and reconciliation run against something that behaves like Graph: Graph's
error bodies and codes, usage headers on every response, a per-token call budget, and faults that
can be switched on (errors, writes applied before a 500, dropped connections, timeouts).

Layers:

* :class:`SandboxServer` — start/stop a ``ThreadingHTTPServer`` in a background thread and the
  Python API tests use (``add_page``, ``objects``, ``stats``, ``set_faults``...).
* :class:`Router` — HTTP-shaped request in, :class:`Reply` out: version prefixes, tokens, routes,
  batch, paging links and the admin API under ``/_sandbox``. No socket code, so batch items reuse it.
* :mod:`graph.sandbox.state` and the rules modules beside it — the Graph rules and the data;
  :mod:`graph.sandbox.series` — numbers.

Stdlib only, so the sandbox runs anywhere the worker runs (including its Docker image).
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
import threading
import traceback
from dataclasses import dataclass, field
from datetime import date, datetime, time as dtime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterable, Mapping, TextIO
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

from graph.sandbox.errors import SandboxError, invalid, not_found
from graph.sandbox.faults import FaultRule
from graph.sandbox.params import param_str, parse_fields
from graph.sandbox.records import CallContext, PageRecord, TokenRecord
from graph.sandbox.state import SandboxState

API_VERSION = "v24.0"
ADMIN_PREFIX = "/_sandbox"
MAX_BATCH = 50
_VERSION = re.compile(r"^/v\d+(?:\.\d+)?(?=/|$)")
_UPLOAD = re.compile(r"^/(?:rupload|video-upload)(?:/v\d+(?:\.\d+)?)?/(?P<video>[^/]+)/?$")
_LIST_EDGES = {"scheduled_posts": "scheduled", "published_posts": "published", "posts": "published",
               "feed": "published", "promotable_posts": "promotable"}


@dataclass
class Reply:
    """What to send back. ``action`` is "respond", "drop" (close without a response) or "timeout"."""

    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    action: str = "respond"
    delay: float = 0.0


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
            return self._admin(method, path[len(ADMIN_PREFIX):] or "/", query, body)
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
            items, first, last, more = state.list_posts(actor, head, _LIST_EDGES[edge], params)
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
        if head not in ("me",) and state.object_page(head)[0] == "object":
            raise not_found(head, method)
        raise invalid(f"Tried accessing nonexisting field ({edge}) with {method}")

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

    # -- admin API (no auth, JSON in and out, not counted) ---------------------------------------

    def _admin(self, method: str, path: str, query: Mapping[str, Any], body: Mapping[str, Any]) -> Reply:
        state = self.state
        parts = [unquote(part) for part in path.strip("/").split("/") if part]
        try:
            if method == "GET" and parts == ["health"]:
                return Reply(200, {"ok": True})
            if parts == ["pages"] and method == "GET":
                return Reply(200, {"data": [page.to_dict() for page in state.pages()]})
            if parts == ["pages"] and method == "POST":
                page = state.add_page(
                    page_id=body.get("page_id"), name=body.get("name"), token=body.get("token"),
                    user_token=body.get("user_token"), anomaly=_truthy(body.get("anomaly", True)),
                    anomaly_day=body.get("anomaly_day"), tasks=body.get("tasks"),
                )
                return Reply(200, page.to_dict())
            if len(parts) == 3 and parts[0] == "pages" and parts[2] == "objects" and method == "GET":
                if state.page(parts[1]) is None:
                    return Reply(404, {"error": f"unknown page {parts[1]}"})
                return Reply(200, state.objects(parts[1]))
            if parts == ["stats"] and method == "GET":
                return Reply(200, state.stats())
            if parts == ["calls"] and method == "GET":
                return Reply(200, {"data": state.call_log(int(query.get("limit", 200)))})
            if parts == ["faults"] and method == "GET":
                return Reply(200, state.faults())
            if parts == ["faults"] and method == "POST":
                return Reply(200, state.set_faults(
                    rules=body.get("rules"), latency_ms=body.get("latency_ms"),
                    fault_timeout_seconds=body.get("fault_timeout_seconds", body.get("timeout_seconds")),
                    video_processing_seconds=body.get("video_processing_seconds")))
            if parts == ["budget"] and method == "GET":
                return Reply(200, state.budget())
            if parts == ["budget"] and method == "POST":
                return Reply(200, state.set_budget(
                    calls_per_window=body.get("calls_per_window"), window_seconds=body.get("window_seconds"),
                    app_calls_per_window=body.get("app_calls_per_window", "keep"),
                    window_mode=body.get("window_mode")))
            if parts == ["throttle"] and method == "POST":
                state.throttle_burst(page_id=body.get("page_id"), calls=int(body.get("calls", 1)),
                                     code=int(body.get("code", 80001)),
                                     regain_minutes=int(body.get("regain_minutes", 1)))
                return Reply(200, {"success": True})
            if parts in (["revoke"], ["expire"]) and method == "POST":
                action = state.revoke_token if parts == ["revoke"] else state.expire_token
                if not action(str(body.get("token", ""))):
                    return Reply(404, {"error": "unknown token"})
                return Reply(200, {"success": True})
            if parts == ["clock"] and method == "POST":
                return Reply(200, {"now": state.advance_clock(float(body.get("advance_seconds", 0)))})
            if parts == ["reset"] and method == "POST":
                state.reset()
                return Reply(200, {"success": True})
        except (ValueError, TypeError) as exc:
            return Reply(400, {"error": str(exc)})
        return Reply(404, {"error": f"no admin route {method} {ADMIN_PREFIX}{path}"})


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


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


# --------------------------------------------------------------------------------------------
# HTTP


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like Graph; every reply carries Content-Length
    disable_nagle_algorithm = True  # headers and body go out in two writes: Nagle would add ~40 ms
    server_version = "SocialcalGraphSandbox/1.0"
    server: "_HTTPServer"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        """Silence per-request logging: tests, benchmarks and the demo would drown in it."""

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        self._serve("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._serve("POST")

    def do_DELETE(self) -> None:  # noqa: N802
        self._serve("DELETE")

    def _serve(self, method: str) -> None:
        split = urlsplit(self.path)
        query = dict(parse_qsl(split.query, keep_blank_values=True))
        headers = {key.lower(): value for key, value in self.headers.items()}
        router = self.server.router
        try:
            body = self._read_body(headers)
        except ValueError as exc:
            reply = router._error(invalid(str(exc)), {})
        else:
            host = headers.get("host")
            base = f"http://{host}" if host else None
            reply = router.handle(method, split.path, query, body, headers, base_url=base)
        if reply.action == "drop":
            self.close_connection = True  # the write happened; the client never hears back
            return
        if reply.action == "timeout":
            router.state.stopping.wait(reply.delay)
        self._write(reply)

    def _read_body(self, headers: Mapping[str, str]) -> dict[str, Any]:
        length = int(headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length > 0 else b""
        if not raw:
            return {}
        content_type = headers.get("content-type", "").split(";")[0].strip().lower()
        text = raw.decode("utf-8", errors="replace")
        if content_type == "application/json" or (not content_type and text.lstrip().startswith("{")):
            try:
                value = json.loads(text)
            except ValueError:
                raise ValueError("Invalid JSON body") from None
            if not isinstance(value, dict):
                raise ValueError("A JSON body must be an object")
            return value
        return dict(parse_qsl(text, keep_blank_values=True))

    def _write(self, reply: Reply) -> None:
        payload = json.dumps(reply.body).encode()
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", "application/json; charset=UTF-8")
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("facebook-api-version", API_VERSION)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up (e.g. after a timeout fault)


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256
    router: Router

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients hanging up (timeouts, drops) are normal here; anything else is a sandbox bug."""
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError)):
            return
        self.router.state.record_internal_error(traceback.format_exc())


class SandboxServer:
    """A sandbox Graph server on loopback, run in a background thread.

    >>> srv = SandboxServer(port=0, seed=1); srv.start()
    >>> page = srv.add_page(name="Cafe")            # PageRecord(page_id, name, token, ...)
    >>> requests.post(f"{srv.graph_url}/{page.page_id}/feed", data={"message": "hi"},
    ...               headers={"Authorization": f"OAuth {page.token}"})
    >>> srv.objects(page.page_id)["posts"]; srv.stats()["over_budget_calls"]; srv.stop()
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        seed: int = 1,
        calls_per_window: int = 200,
        window_seconds: float = 3600,
        app_calls_per_window: int | None = None,
        latency_ms: float = 0,
        *,
        faults: Iterable[Mapping[str, Any]] = (),
        window_mode: str = "fixed",
        fault_timeout_seconds: float = 5.0,
        video_processing_seconds: float = 0.0,
        app_secret: str | None = None,
    ) -> None:
        self.state = SandboxState(
            seed=seed, calls_per_window=calls_per_window, window_seconds=window_seconds,
            app_calls_per_window=app_calls_per_window, latency_ms=latency_ms, window_mode=window_mode,
            fault_timeout_seconds=fault_timeout_seconds, video_processing_seconds=video_processing_seconds,
            app_secret=app_secret, faults=faults,
        )
        self.router = Router(self.state)
        self._host, self._port = host, port
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> "SandboxServer":
        """Bind and serve in a daemon thread; returns self. ``port=0`` picks a free port."""
        if self._httpd is not None:
            return self
        self.state.stopping.clear()
        httpd = _HTTPServer((self._host, self._port), _Handler)
        httpd.router = self.router
        self._httpd = httpd
        self.router.base_url = self.base_url
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.1},
                                        name=f"graph-sandbox:{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; sleeping timeout/latency faults wake up at once."""
        self.state.stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = self._thread = None

    def __enter__(self) -> "SandboxServer":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("the sandbox is not started")
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        host = self._host if self._host not in ("0.0.0.0", "", "::") else "127.0.0.1"
        return f"http://{host}:{self.port}"

    @property
    def graph_url(self) -> str:
        """Value for SOCIALCAL_GRAPH_URL."""
        return f"{self.base_url}/{API_VERSION}"

    @property
    def video_url(self) -> str:
        """Value for SOCIALCAL_GRAPH_VIDEO_URL (the same server plays the video host)."""
        return f"{self.base_url}/{API_VERSION}"

    # -- Python API (same operations as the admin endpoints) -----------------------------------

    def add_page(self, page_id: str | None = None, name: str | None = None, token: str | None = None,
                 user_token: str | None = None, anomaly: bool = True, anomaly_day: date | str | None = None,
                 tasks: Iterable[str] | None = None) -> PageRecord:
        return self.state.add_page(page_id=page_id, name=name, token=token, user_token=user_token,
                                   anomaly=anomaly, anomaly_day=anomaly_day, tasks=tasks)

    def pages(self) -> list[PageRecord]:
        return self.state.pages()

    def objects(self, page_id: str) -> dict[str, list[dict[str, Any]]]:
        return self.state.objects(page_id)

    def stats(self) -> dict[str, Any]:
        return self.state.stats()

    def set_faults(self, rules: Iterable[Mapping[str, Any] | FaultRule] | None = None,
                   latency_ms: float | None = None, fault_timeout_seconds: float | None = None,
                   video_processing_seconds: float | None = None) -> dict[str, Any]:
        return self.state.set_faults(rules=rules, latency_ms=latency_ms, fault_timeout_seconds=fault_timeout_seconds,
                                     video_processing_seconds=video_processing_seconds)

    def set_budget(self, calls_per_window: int | None = None, window_seconds: float | None = None,
                   app_calls_per_window: int | None | str = "keep", window_mode: str | None = None) -> dict[str, Any]:
        return self.state.set_budget(calls_per_window, window_seconds, app_calls_per_window, window_mode)

    def throttle_burst(self, page_id: str | None = None, calls: int = 1, code: int = 80001,
                       regain_minutes: int = 1) -> None:
        self.state.throttle_burst(page_id=page_id, calls=calls, code=code, regain_minutes=regain_minutes)

    def revoke_token(self, token: str) -> bool:
        return self.state.revoke_token(token)

    def expire_token(self, token: str) -> bool:
        return self.state.expire_token(token)

    def advance_clock(self, seconds: float) -> float:
        return self.state.advance_clock(seconds)

    def anomaly_for(self, page_id: str) -> tuple[str, date] | None:
        return self.state.anomaly_for(page_id)

    def reset(self) -> None:
        self.state.reset()


def serve(
    host: str = "127.0.0.1",
    port: int = 8099,
    *,
    seed: int = 1,
    demo_pages: int = 0,
    user_token: str | None = None,
    calls_per_window: int = 200,
    window_seconds: float = 3600,
    app_calls_per_window: int | None = None,
    latency_ms: float = 0,
    window_mode: str = "fixed",
    out: TextIO | None = None,
    stop: threading.Event | None = None,
) -> None:
    """Run the sandbox in the foreground (``socialcal sandbox``) until interrupted.

    With ``demo_pages=N`` it creates N Pages sharing one user token (derived from the seed unless
    given, so a rerun with the same seed prints the same ids and tokens) and prints each Page as
    one JSON line after the "listening" line. ``stop`` (for callers embedding it) ends the loop.
    """
    out = out or sys.stdout
    server = SandboxServer(host=host, port=port, seed=seed, calls_per_window=calls_per_window,
                           window_seconds=window_seconds, app_calls_per_window=app_calls_per_window,
                           latency_ms=latency_ms, window_mode=window_mode)
    server.start()
    if demo_pages:
        shared = user_token or "EAAU" + hashlib.sha256(f"{seed}|demo-user".encode()).hexdigest()[:56]
        for number in range(1, demo_pages + 1):
            server.add_page(name=f"Demo Page {number}", user_token=shared)
    print(f"graph sandbox listening on {server.base_url} (graph url {server.graph_url})", file=out, flush=True)
    for page in server.pages():
        print(json.dumps({"page_id": page.page_id, "name": page.name, "page_token": page.token,
                          "user_token": page.user_token}), file=out, flush=True)
    stop = stop or threading.Event()
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


__all__ = ["API_VERSION", "PageRecord", "Reply", "Router", "SandboxServer", "SandboxState", "serve"]
