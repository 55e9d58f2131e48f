"""The sandbox Graph server's whole in-memory state, and the path every call takes through it.

Pure logic, no HTTP: :mod:`graph.sandbox.router` parses requests and calls the methods here, which
either return a JSON-ready value or raise :class:`~graph.sandbox.errors.SandboxError` carrying
Graph's error fields. That split lets the same rules serve real HTTP, Graph batch items and
in-process inspection by tests.

:class:`SandboxState` is :class:`~graph.sandbox.store.PageStore` (Pages, tokens, objects, the lock)
plus one mixin per family of rules: :mod:`~graph.sandbox.limits` (budget, usage headers,
throttles), :mod:`~graph.sandbox.faults`, :mod:`~graph.sandbox.publishing`,
:mod:`~graph.sandbox.reads` and :mod:`~graph.sandbox.insights`. What stays here is what ties them
together: the configuration, ``begin_call``/``finish_call`` (token, then budget, then faults, in
Graph's order), the call counters and ``reset``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections import Counter, deque
from typing import Any, Callable, Iterable, Mapping

from graph.sandbox.errors import SandboxError, invalid
from graph.sandbox.faults import FaultInjection, fault_message
from graph.sandbox.insights import InsightsReads
from graph.sandbox.limits import BudgetLimits
from graph.sandbox.oauth import SANDBOX_APP_ID, OAuthRules
from graph.sandbox.publishing import PublishingRules
from graph.sandbox.reads import ObjectReads
from graph.sandbox.records import CallContext
from graph.sandbox.store import locked


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
        "over_budget_by_page": Counter(),
        "peak_window_calls_by_page": {},
        "tokens_exchanged": 0,
        "reels_refused": 0,
        "burst_throttled": 0,
        "calls_during_backoff": 0,
        "peak_window_calls": {},
        "faults_fired": Counter(),
        "token_in_url_calls": 0,
        "invalid_token_calls": 0,
        "internal_errors": [],
    }


class SandboxState(BudgetLimits, FaultInjection, PublishingRules, ObjectReads, InsightsReads, OAuthRules):
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
        app_id: str = SANDBOX_APP_ID,
        faults: Iterable[Mapping[str, Any]] = (),
        clock: Callable[[], float] = time.time,
        reels_per_window: int = 30,
        reels_window_seconds: float = 86400,
    ) -> None:
        super().__init__(seed=seed, clock=clock)
        self.calls_per_window = int(calls_per_window)
        self.window_seconds = float(window_seconds)
        self.app_calls_per_window = app_calls_per_window
        self.window_mode = window_mode
        self.latency_ms = float(latency_ms)
        self.fault_timeout_seconds = float(fault_timeout_seconds)
        self.video_processing_seconds = float(video_processing_seconds)
        self.app_secret = app_secret
        self.app_id = str(app_id)
        self.reels_per_window = int(reels_per_window)
        self.reels_window_seconds = float(reels_window_seconds)
        self.stopping = threading.Event()  # set on shutdown so sleeping faults wake up
        self._reset_runtime()
        self.set_faults(rules=list(faults))

    def _reset_runtime(self) -> None:
        self._reset_limits()
        self._stats = _new_stats()
        self._log: deque[dict[str, Any]] = deque(maxlen=5000)

    @locked
    def reset(self) -> None:
        """Forget objects, stats, faults, throttles and budget counters; keep Pages and tokens.

        Revoked or expired tokens become valid again (revocation is treated as a fault).
        """
        self._reset_objects()
        self._reset_runtime()
        self.set_faults(rules=[], latency_ms=0, reduce_data_above=None, insights_reduce_data_above=None)
        self.clock_offset = 0.0
        for record in self._tokens.values():
            record.revoked = record.expired = False

    # -- inspection ----------------------------------------------------------------------------

    @locked
    def stats(self) -> dict[str, Any]:
        """Counters since start or the last reset (JSON-ready: Counters become dicts)."""
        return json.loads(json.dumps(self._stats, default=dict))

    @locked
    def call_log(self, limit: int = 200) -> list[dict[str, Any]]:
        """The most recent calls (method, route kind, page, status, error code), newest last."""
        return list(self._log)[-limit:]

    # -- per-call bookkeeping: auth, budget, throttles, faults -----------------------------------

    @locked
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
        record = self._tokens.get(token) or self.app_record(token)
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
        scope_page = record.page_id if record.kind == "page" else page_id if record.kind == "user" else None
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
                    ctx.fault.message or fault_message(ctx.fault.code),
                    subcode=ctx.fault.subcode,
                    http_status=ctx.fault.http_status,
                )
        return ctx

    @locked
    def count_oauth_call(self, *, token_in_url: bool) -> None:
        self._stats["total_calls"] += 1
        self._stats["calls_by_route"]["oauth access_token"] += 1
        if token_in_url:
            self._stats["token_in_url_calls"] += 1

    @locked
    def finish_call(self, ctx: CallContext, status: int, code: int | None, fault_mode: str | None = None) -> None:
        """Record the outcome of a call (status counters, error codes, the recent-call log)."""
        self._stats["responses_by_status"][str(status)] += 1
        if code is not None:
            self._stats["errors_by_code"][str(code)] += 1
        self._log.append({
            "time": self.now(), "method": ctx.method, "kind": ctx.kind, "page_id": ctx.page_id,
            "status": status, "code": code, "fault": fault_mode,
        })

    @locked
    def record_internal_error(self, text: str) -> None:
        self._stats["internal_errors"].append(text[-4000:])
