"""An in-process stand-in for the Redis budget, for a single-process run with no Redis (the demo).

It keeps the same rules as ``GraphBudget`` (rolling-window cap per Page, the Reels limit, the insights share, and
pauses for app, token and Page scopes) and reuses its pause policy, but holds the state in this
process only: it is correct only while one process makes every Graph call, which is exactly the
embedded demo. Anything with more than one worker process uses Redis.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque
from typing import Any

from graph.budget import PRIORITIES, BudgetShape, Decision, GraphBudget, Priority, budget_key
from worker.core.settings import Settings


class ProcessBudget(GraphBudget):
    def __init__(self, settings: Settings) -> None:  # no Redis: deliberately not calling super().__init__
        self.settings = settings
        self.shape = BudgetShape.from_settings(settings)
        self._lock = threading.Lock()
        self._calls: dict[str, deque[float]] = defaultdict(deque)
        self._pauses: dict[str, tuple[float, str]] = {}
        self._reels: dict[str, deque[float]] = defaultdict(deque)

    def acquire(self, token_key: str, priority: Priority = "publish", now: float | None = None, *,
                scope_id: str | None = None) -> Decision:
        if priority not in PRIORITIES:
            raise ValueError(f"priority must be one of {PRIORITIES}, got {priority!r}")
        now = time.time() if now is None else float(now)
        with self._lock:
            for scope in self.scopes_for(token_key, scope_id):
                until, reason = self._pauses.get(scope, (0.0, ""))
                if until > now:
                    return Decision(False, until, f"{scope} paused ({reason})")
            calls = self._calls[budget_key(token_key, scope_id)]
            while calls and calls[0] <= now - self.shape.window:
                calls.popleft()
            limit = self.shape.capacity if priority == "publish" else self.shape.insights_limit
            if len(calls) >= limit:
                reopen = calls[len(calls) - limit] + self.shape.window if limit else now + self.shape.window
                return Decision(False, reopen, f"{priority} budget used for this window")
            calls.append(now)
            return Decision(True, now)

    def pause(self, scope: str, until: float, reason: str, *, now: float | None = None) -> float:
        with self._lock:
            current = self._pauses.get(scope, (0.0, ""))[0]
            if until > current:
                self._pauses[scope] = (until, reason)
            return max(until, current)

    def resume(self, scope: str) -> None:
        with self._lock:
            self._pauses.pop(scope, None)

    def paused_until(self, scope: str, now: float | None = None) -> float | None:
        now = time.time() if now is None else float(now)
        until = self._pauses.get(scope, (0.0, ""))[0]
        return until if until > now else None

    def peek(self, token_key: str, scope_id: str | None = None, now: float | None = None) -> dict[str, Any]:
        now = time.time() if now is None else float(now)
        with self._lock:
            in_window = sum(1 for t in self._calls[budget_key(token_key, scope_id)] if t > now - self.shape.window)
        return {"capacity": self.shape.capacity, "window_seconds": self.shape.window, "calls_in_window": in_window}

    def reserve_reel(self, page_id: str, now: float | None = None) -> Decision:
        now = time.time() if now is None else float(now)
        limit = int(self.settings.reels_per_window)
        with self._lock:
            reels = self._reels[page_id]
            while reels and reels[0] <= now - self.shape.window:
                reels.popleft()
            if len(reels) >= limit:
                reopen = reels[len(reels) - limit] + self.shape.window if limit else now + self.shape.window
                return Decision(False, reopen, f"the Page has published {limit} Reels in the window (Meta's limit)")
            reels.append(now)
            return Decision(True, now, in_window=len(reels))

    def reels_in_window(self, page_id: str, now: float | None = None) -> int:
        now = time.time() if now is None else float(now)
        with self._lock:
            return sum(1 for t in self._reels[page_id] if t > now - self.shape.window)

    def pauses_in_force(self, scopes: list[str], now: float | None = None) -> dict[str, dict[str, Any]]:
        now = time.time() if now is None else float(now)
        with self._lock:
            return {scope: {"until": until, "reason": reason} for scope in scopes
                    for until, reason in [self._pauses.get(scope, (0.0, ""))] if until > now}
