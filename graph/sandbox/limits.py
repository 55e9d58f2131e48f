"""The call budget, usage headers and throttles: how the sandbox says "slow down" as Meta does.

Counters per **Page** for Page tokens — Meta's Pages Business Use Case limit is
``calls_per_window x the Page's engaged users`` per window (4800 x engaged users per rolling 24 h on
Meta; ``set_engaged_users``), shared by every token of that Page — and per token for user tokens
(the Platform limit), plus the app when it has a limit; in fixed windows aligned to the epoch, or
rolling (as Meta counts) on request, so a run is deterministic and replayable. A call counts against the budget
*even when it is refused*, because Meta counts calls made while throttled; every response carries
``X-App-Usage`` (and, for Page tokens, ``X-Page-Usage`` / ``X-Business-Use-Case-Usage``) with the
percentage used and the minutes until access is regained, which socialcal's budget reads.
Throttle bursts (``throttle_burst``) make the next calls fail with a rate-limit code on demand.
"""

from __future__ import annotations

import json
import math
from collections import deque
from dataclasses import dataclass
from typing import Any

from graph.sandbox.errors import SandboxError
from graph.sandbox.records import CallContext, TokenRecord
from graph.sandbox.store import PageStore, locked

RATE_LIMIT_MESSAGES = {
    4: "(#4) Application request limit reached",
    17: "(#17) User request limit reached",
    32: "(#32) Page request limit reached",
    613: "(#613) Calls to this api have exceeded the rate limit.",
    80001: "(#80001) There have been too many calls to this Page account. Wait a bit and try again. "
           "For more info, please refer to https://developers.facebook.com/docs/graph-api/overview/rate-limiting.",
}


@dataclass
class ThrottleBurst:
    """A throttle asked for through the admin API: the next ``remaining`` calls (for ``page_id``,
    or any call when None) are refused with the rate-limit ``code``, as if Meta had throttled them."""

    page_id: str | None
    remaining: int
    code: int
    regain_minutes: int


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


class BudgetLimits(PageStore):
    """Per-token and per-app call windows, backoff bookkeeping and throttle bursts."""

    calls_per_window: int
    window_seconds: float
    app_calls_per_window: int | None
    window_mode: str  # "fixed" | "rolling"
    reels_per_window: int
    reels_window_seconds: float

    def _reset_limits(self) -> None:
        self._counters: dict[str, _WindowCounter] = {}
        self._backoff_until: dict[str, float] = {}
        self._bursts: list[ThrottleBurst] = []

    @locked
    def set_budget(
        self,
        calls_per_window: int | None = None,
        window_seconds: float | None = None,
        app_calls_per_window: int | None | str = "keep",
        window_mode: str | None = None,
        reels_per_window: int | None = None,
        reels_window_seconds: float | None = None,
    ) -> dict[str, Any]:
        """Change the budget (and the Reels limit); counters in the current window are kept."""
        if reels_per_window is not None:
            self.reels_per_window = int(reels_per_window)
        if reels_window_seconds is not None:
            self.reels_window_seconds = float(reels_window_seconds)
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

    @locked
    def budget(self) -> dict[str, Any]:
        return {
            "calls_per_window": self.calls_per_window,
            "window_seconds": self.window_seconds,
            "app_calls_per_window": self.app_calls_per_window,
            "window_mode": self.window_mode,
            "reels_per_window": self.reels_per_window,
            "reels_window_seconds": self.reels_window_seconds,
        }

    @locked
    def throttle_burst(
        self, page_id: str | None = None, calls: int = 1, code: int = 80001, regain_minutes: int = 1
    ) -> None:
        """Make the next ``calls`` calls for ``page_id`` (any call when None) fail with ``code``."""
        if code not in RATE_LIMIT_MESSAGES:
            raise ValueError(f"throttle code must be one of {sorted(RATE_LIMIT_MESSAGES)}")
        self._bursts.append(ThrottleBurst(None if page_id in (None, "") else str(page_id), int(calls),
                                          int(code), max(1, int(regain_minutes))))

    @staticmethod
    def _backoff_keys(record: TokenRecord, scope_page: str | None) -> list[str]:
        keys = ["app", f"token:{record.token}"]
        if scope_page:
            keys.append(f"page:{scope_page}")
        return keys

    def _budget_check(self, ctx: CallContext, record: TokenRecord, scope_page: str | None, now: float) -> None:
        rolling = self.window_mode == "rolling"
        seconds, limit = self.window_seconds, max(1, self.calls_per_window)
        page = self._pages.get(record.page_id or "") if record.kind == "page" else None
        if page is not None:  # one counter per Page, whatever the token: Meta's Pages BUC limit
            key, limit = f"page:{page.page_id}", limit * max(1, page.engaged_users)
        else:
            key = f"token:{record.token}"
        counter = self._counters.setdefault(key, _WindowCounter())
        count = counter.hit(now, seconds, rolling)
        peak = self._stats["peak_window_calls"]
        peak[record.token] = max(peak.get(record.token, 0), count)
        if page is not None:
            by_page = self._stats["peak_window_calls_by_page"]
            by_page[page.page_id] = max(by_page.get(page.page_id, 0), count)
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
            if page is not None:
                self._stats["over_budget_by_page"][page.page_id] += 1
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
