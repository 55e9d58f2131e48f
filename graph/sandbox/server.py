"""The sandbox Graph server over real HTTP on loopback, and its Python API.

Used by the demo, the integration and fault tests, and the benchmarks, so socialcal's real HTTP
client, retries, budget and reconciliation run against something that behaves like Graph: Graph's
error bodies and codes, usage headers on every response, a per-token call budget, and faults that
can be switched on (errors, writes applied before a 500, dropped connections, timeouts).

* :class:`SandboxServer` — start/stop a ``ThreadingHTTPServer`` in a background thread and the
  Python API tests use (``add_page``, ``objects``, ``stats``, ``set_faults``...).
* :func:`serve` — the same in the foreground, for ``socialcal sandbox`` and ``docker compose``.
* ``_Handler`` — sockets only: parse the request, hand it to :class:`~graph.sandbox.router.Router`,
  write (or drop, or hold) the :class:`~graph.sandbox.reply.Reply`.

Stdlib only, so the sandbox runs anywhere the worker runs (including its Docker image).
"""

from __future__ import annotations

import hashlib
import json
import sys
import threading
import traceback
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterable, Mapping, TextIO
from urllib.parse import parse_qsl, urlsplit

from graph.sandbox.errors import invalid
from graph.sandbox.records import FaultRule, PageRecord
from graph.sandbox.reply import Reply
from graph.sandbox.router import API_VERSION, Router
from graph.sandbox.state import SandboxState


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
        app_id: str | None = None,
    ) -> None:
        self.state = SandboxState(
            seed=seed, calls_per_window=calls_per_window, window_seconds=window_seconds,
            app_calls_per_window=app_calls_per_window, latency_ms=latency_ms, window_mode=window_mode,
            fault_timeout_seconds=fault_timeout_seconds, video_processing_seconds=video_processing_seconds,
            app_secret=app_secret, faults=faults, **({"app_id": app_id} if app_id else {}),
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
                   video_processing_seconds: float | None = None, **size_knobs: int | None) -> dict[str, Any]:
        """``size_knobs``: ``reduce_data_above`` / ``insights_reduce_data_above`` (see :mod:`graph.sandbox.faults`)."""
        return self.state.set_faults(rules=rules, latency_ms=latency_ms, fault_timeout_seconds=fault_timeout_seconds,
                                     video_processing_seconds=video_processing_seconds, **size_knobs)

    def set_budget(self, calls_per_window: int | None = None, window_seconds: float | None = None,
                   app_calls_per_window: int | None | str = "keep", window_mode: str | None = None,
                   reels_per_window: int | None = None, reels_window_seconds: float | None = None) -> dict[str, Any]:
        return self.state.set_budget(calls_per_window, window_seconds, app_calls_per_window, window_mode,
                                     reels_per_window, reels_window_seconds)

    def throttle_burst(self, page_id: str | None = None, calls: int = 1, code: int = 80001,
                       regain_minutes: int = 1) -> None:
        self.state.throttle_burst(page_id=page_id, calls=calls, code=code, regain_minutes=regain_minutes)

    def set_engaged_users(self, page_id: str, engaged_users: int) -> dict[str, Any]:
        return self.state.set_engaged_users(page_id, engaged_users)

    def add_page_token(self, page_id: str) -> str:
        return self.state.add_page_token(page_id)

    def set_token(self, token: str, **changes: Any) -> bool:
        return self.state.set_token(token, **changes)

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
    app_secret: str | None = None,
) -> None:
    """Run the sandbox in the foreground (``socialcal sandbox``) until interrupted.

    With ``demo_pages=N`` it creates N Pages sharing one user token (derived from the seed unless
    given, so a rerun with the same seed prints the same ids and tokens) and prints each Page as
    one JSON line after the "listening" line. ``stop`` (for callers embedding it) ends the loop.
    """
    out = out or sys.stdout
    server = SandboxServer(host=host, port=port, seed=seed, calls_per_window=calls_per_window,
                           window_seconds=window_seconds, app_calls_per_window=app_calls_per_window,
                           latency_ms=latency_ms, window_mode=window_mode, app_secret=app_secret)
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
