"""One shared Graph call budget per Page token, held in Redis, plus pauses that follow Meta's limits.

Every worker process on every machine draws from the same budget (DESIGN.md rule 5), so the
state lives in Redis and every decision is one Lua script (one round trip, atomic: two workers can
never both take the last call).

Algorithm — a sliding-window log with GCRA pacing
-------------------------------------------------
Three checks run in one script for each call, after the pause check below:

1. **Rolling window (the hard cap).** A sorted set per token holds the time of every call made in
   the last ``W`` seconds; a call is refused while ``C`` calls are already in it. ``C`` is
   ``graph_calls_per_hour`` and ``W`` is ``graph_budget_window_seconds`` (an hour, shrinkable for
   tests and benchmarks) plus a small guard (1% of the window, at most 1 s). Meta counts over a
   *rolling* window, so a token bucket of capacity ``C`` (which may spend ``2C`` in one window:
   a full bucket plus its refill) or a fixed window (``2C`` across a boundary) would overshoot;
   the log cannot. The guard absorbs the milliseconds between taking a call here and Meta
   receiving it, and small clock differences between workers.
2. **Pacing (smooth, not bursty).** A GCRA (the "virtual scheduling" form of a token bucket)
   spaces calls ``T = W / C`` apart and tolerates a burst of ``B = max(1, C // 20)`` calls, so a
   backlog drains at a steady rate instead of spending the hour in its first second (Meta's code
   613/1996 punishes "inconsistent request volume"). The state is one number, the theoretical
   arrival time (TAT).
3. **Priority.** Publishing may use the whole window. Insights may draw only while the window still
   holds more than ``(1 - insights_budget_share)`` of ``C`` — i.e. only while fewer than
   ``L = floor(share * C)`` calls (at least 1 when the share is above 0) were made in the window —
   so publishing always has ``C - L`` calls in reserve and, once it is busy, insights waits. Insights
   also has its own GCRA at ``L`` per window, so that its share is spread out too rather than spent
   in one run followed by silence.

A refusal returns the earliest time at which every failed check would pass (the latest of them), so
the task is retried then instead of sleeping in the worker.

Pauses
------
``pause(scope, until, reason)`` stops every call for a scope: ``"token:<token_key>"``,
``"page:<page_id>"`` or ``"app"``. The acquire script checks the token's, its Page's and the app's
pauses before anything else, so a paused scope sends nothing from any worker. A pause is only ever
lengthened, never shortened, by a later one. ``BudgetHooks.after_call`` sets pauses from:

* usage headers at or above ``usage_pause_percent`` — until Meta's
  ``estimated_time_to_regain_access`` when it gives one; otherwise long enough for the excess to
  roll out of the window (``W * (percent - threshold + 1) / 100``, i.e. the time for that share of
  a window to pass), at most ``APP_PAUSE_SECONDS`` (app) / ``PAGE_PAUSE_SECONDS`` (Page);
* a ``RateLimited`` error — until its ``retry_at``, else a default: app 5 min (codes 4, 341),
  token 10 min (17, 613), Page 10 min (32, 80000–80014), each at most one window (a rolling
  window's calls have all rolled off after ``W``); and Page 1 hour for 368/1390008 ("posting
  too fast": a penalty, not a window). Any other 368 is a ``PolicyBlocked`` (one post's content),
  not a ``RateLimited``, and pauses nothing: the Page's other posts go on;
* an ``AuthError`` — the token for 15 minutes, so the tenant's other tasks stop calling with a dead
  token (the task marks the integration ``needs_reconnect``; a reconnected Page has a new token and
  so a new, unpaused fingerprint).

Every key carries a TTL (the window state about two windows, a pause its own length) so nothing
leaks. Keys name the token only by its fingerprint (``CallInfo.token_key``), never the token. The
script touches keys of several tokens' scopes (the app pause), so this needs one Redis, not a Redis
Cluster. Times are epoch seconds from the caller (``now``), so tests can drive the arithmetic;
workers' clocks are assumed NTP-synchronised (the guard covers milliseconds of skew), and a token's
clock never runs backwards: a caller whose ``now`` is older than the newest call taken (it read the
clock, then waited for the CPU) is judged at that newer time, so reordered callers cannot slip an
extra call into a window.
"""

from __future__ import annotations

import math
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Literal, Mapping

import redis

from graph.client import CallInfo
from graph.errors import (
    POLICY_BLOCK_CODE,
    POSTING_TOO_FAST,
    AuthError,
    BudgetExhausted,
    GraphError,
    RateLimited,
    Transient,
)
from graph.usage import PERCENT_FIELDS, Usage
from worker.core.logging import get_logger
from worker.core.settings import Settings

log = get_logger(__name__)

Priority = Literal["publish", "insights"]
PRIORITIES: tuple[str, ...] = ("publish", "insights")
DEFAULT_PREFIX = "socialcal:budget:"
APP_SCOPE = "app"

# Default pauses when Meta gives no time (seconds). Window-based ones are also capped at one window.
APP_PAUSE_SECONDS = 300.0  # app limit (4, 341) or X-App-Usage over the threshold
PAGE_PAUSE_SECONDS = 600.0  # Page / user / BUC limits (17, 32, 613, 80000-80014) or Page usage
BLOCK_PAUSE_SECONDS = 3600.0  # 368/1390008 "posting too fast": a penalty, not a rolling window
AUTH_PAUSE_SECONDS = 900.0  # dead token: stop the tenant's other tasks until someone reconnects
MAX_PAUSE_SECONDS = 86400.0  # never trust an estimate beyond a day
GUARD_FRACTION = 0.01
GUARD_MAX_SECONDS = 1.0
BURST_DIVISOR = 20

# KEYS[1] pacing hash, KEYS[2] window log, KEYS[3..] pause hashes (app, token, Page).
# ARGV: now, priority, capacity, window, interval, tolerance, insights_limit, insights_interval,
#       insights_tolerance, member, ttl.
# Returns {allowed 0|1, retry_at, why, detail}; numbers go back as strings because Redis truncates
# Lua numbers to integers.
_ACQUIRE_LUA = """
local function fmt(x) return string.format('%.6f', x) end
local state = redis.call('HMGET', KEYS[1], 'tat', 'tat_insights', 'clock')
-- A token's clock never runs backwards: a caller whose 'now' is older than a call already taken
-- (it read its clock, then waited for the CPU or the network) is judged at the newest time seen.
local now = math.max(tonumber(ARGV[1]), tonumber(state[3]) or 0)
local insights = ARGV[2] == 'insights'
local capacity = tonumber(ARGV[3])
local window = tonumber(ARGV[4])
local interval = tonumber(ARGV[5])
local tolerance = tonumber(ARGV[6])
local insights_limit = tonumber(ARGV[7])
local insights_interval = tonumber(ARGV[8])
local insights_tolerance = tonumber(ARGV[9])

-- Times travel as '%.6f' strings, so a check that passes within EPS counts as passed; otherwise a
-- rounding error could refuse a call that arrives exactly at the retry_at it was given.
local EPS = 0.00001
local retry_at = now
local why = 'ok'
local detail = ''
local function later(at, reason, extra)
  if at > now + EPS and at > retry_at then
    retry_at = at
    why = reason
    detail = extra or ''
  end
end

-- 1. pauses of the app, the token and its Page
for i = 3, #KEYS do
  local pause = redis.call('HMGET', KEYS[i], 'until', 'reason')
  local ends = tonumber(pause[1])
  if ends then
    later(ends, 'paused', tostring(i - 2) .. '|' .. (pause[2] or ''))
  end
end

-- 2. rolling window: calls in (now - window, +inf); a refusal only reads
local since = '(' .. fmt(now - window + EPS)
local count = redis.call('ZCOUNT', KEYS[2], since, '+inf')
local limit = capacity
if insights then limit = insights_limit end
if limit < 1 then
  later(now + window, 'share', '')
elseif count >= limit then
  local entry = redis.call('ZRANGEBYSCORE', KEYS[2], since, '+inf', 'WITHSCORES', 'LIMIT', count - limit, 1)
  local reason = 'window'
  if insights then reason = 'share' end
  later(tonumber(entry[2]) + window, reason, '')
end

-- 3. pacing (GCRA): conforming when now >= TAT - tolerance
local tat = math.max(tonumber(state[1]) or now, now)
later(tat - tolerance, 'rate', '')
local tat_insights = now
if insights then
  tat_insights = math.max(tonumber(state[2]) or now, now)
  later(tat_insights - insights_tolerance, 'rate', '')
end

if retry_at > now + EPS then
  return {0, fmt(retry_at), why, detail}
end

local ttl = tonumber(ARGV[11])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', fmt(now - window + EPS))
redis.call('ZADD', KEYS[2], fmt(now), ARGV[10])
redis.call('HSET', KEYS[1], 'tat', fmt(tat + interval), 'clock', fmt(now))
if insights then
  redis.call('HSET', KEYS[1], 'tat_insights', fmt(tat_insights + insights_interval))
end
redis.call('EXPIRE', KEYS[1], ttl)
redis.call('EXPIRE', KEYS[2], ttl)
return {1, fmt(now), 'ok', ''}
"""

# KEYS[1] pause hash; ARGV: now, until, reason. Lengthens, never shortens; returns the pause end.
_PAUSE_LUA = """
local now = tonumber(ARGV[1])
local ends = tonumber(ARGV[2])
local current = tonumber(redis.call('HGET', KEYS[1], 'until'))
if current and current > now and current >= ends then
  return string.format('%.6f', current)
end
if ends <= now then
  return string.format('%.6f', now)
end
redis.call('HSET', KEYS[1], 'until', string.format('%.6f', ends), 'reason', ARGV[3])
redis.call('EXPIRE', KEYS[1], math.ceil(ends - now) + 1)
return string.format('%.6f', ends)
"""


@dataclass(frozen=True)
class Decision:
    """The answer to one ``acquire``: refused until ``retry_at`` (epoch seconds), or allowed.

    When allowed, ``retry_at`` is the time the call was counted at: the caller's ``now``, or the
    token's newest call time if that is later (a token's clock never runs backwards).
    """

    allowed: bool
    retry_at: float
    reason: str = "ok"


@dataclass(frozen=True)
class Pause:
    """One pause to apply: a scope key (``app``, ``token:<key>``, ``page:<id>``) until an epoch time."""

    scope: str
    until: float
    reason: str


@dataclass(frozen=True)
class BudgetShape:
    """The numbers the script needs, derived once from settings (see the module docstring)."""

    capacity: int
    window: float  # W plus the guard
    interval: float  # T = window / capacity
    tolerance: float  # (B - 1) * T
    insights_limit: int  # L = floor(share * C), at least 1 when share > 0
    insights_interval: float
    insights_tolerance: float
    ttl: int

    @classmethod
    def from_settings(cls, settings: Settings) -> "BudgetShape":
        capacity = int(settings.graph_calls_per_hour)
        base = float(settings.graph_budget_window_seconds)
        window = base + min(GUARD_MAX_SECONDS, base * GUARD_FRACTION)
        interval = window / capacity
        burst = max(1, capacity // BURST_DIVISOR)
        share = float(settings.insights_budget_share)
        insights_limit = min(capacity, math.floor(share * capacity + 1e-9))
        if share > 0:
            insights_limit = max(1, insights_limit)
        insights_interval = window / max(1, insights_limit)
        insights_burst = max(1, insights_limit // BURST_DIVISOR)
        tolerance = (burst - 1) * interval
        insights_tolerance = (insights_burst - 1) * insights_interval
        # Long enough to outlive every logged call and every future TAT, so dropping the keys loses nothing.
        ttl = math.ceil(window + max(tolerance + interval, insights_tolerance + insights_interval)) + 1
        return cls(capacity, window, interval, tolerance, insights_limit, insights_interval,
                   insights_tolerance, ttl)


def token_scope(token_key: str) -> str:
    return f"token:{token_key}"


def page_scope(page_id: str) -> str:
    return f"page:{page_id}"


def _valid_scope(scope: str) -> bool:
    if scope == APP_SCOPE:
        return True
    kind, _, ident = scope.partition(":")
    return kind in ("token", "page") and bool(ident)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _percent(entry: Mapping[str, Any] | None) -> float | None:
    """The highest of call_count / total_time / total_cputime in one usage entry, None if unknown."""
    if not entry:
        return None
    values = [float(v) for name in PERCENT_FIELDS
              if isinstance(v := entry.get(name), (int, float)) and not isinstance(v, bool) and math.isfinite(v)]
    return max(values) if values else None


def _highest(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return max(known) if known else None


class GraphBudget:
    """The shared budget and pause state of every token, in one Redis."""

    def __init__(self, redis_client: redis.Redis, settings: Settings, *, prefix: str = DEFAULT_PREFIX) -> None:
        self.redis = redis_client
        self.settings = settings
        self.prefix = prefix
        self.shape = BudgetShape.from_settings(settings)
        # register_script runs EVALSHA and re-loads the script on NOSCRIPT (e.g. after a Redis restart).
        self._acquire = redis_client.register_script(_ACQUIRE_LUA)
        self._pause = redis_client.register_script(_PAUSE_LUA)

    # ----------------------------------------------------------------------------- keys

    def _pace_key(self, token_key: str) -> str:
        return f"{self.prefix}token:{token_key}:pace"

    def _log_key(self, token_key: str) -> str:
        return f"{self.prefix}token:{token_key}:window"

    def _pause_key(self, scope: str) -> str:
        return f"{self.prefix}pause:{scope}"

    @staticmethod
    def scopes_for(token_key: str, scope_id: str | None = None) -> list[str]:
        """The scopes whose pause stops a call with this token (and Page): app, token, Page."""
        scopes = [APP_SCOPE, token_scope(token_key)]
        if scope_id:
            scopes.append(page_scope(scope_id))
        return scopes

    # ----------------------------------------------------------------------------- acquire

    def acquire(self, token_key: str, priority: Priority = "publish", now: float | None = None, *,
                scope_id: str | None = None) -> Decision:
        """Take one call from ``token_key``'s budget, or say when to come back. One round trip."""
        if priority not in PRIORITIES:
            raise ValueError(f"priority must be one of {PRIORITIES}, got {priority!r}")
        if not token_key:
            raise ValueError("token_key is required")
        now = time.time() if now is None else float(now)
        shape = self.shape
        scopes = self.scopes_for(token_key, scope_id)
        keys = [self._pace_key(token_key), self._log_key(token_key), *(self._pause_key(s) for s in scopes)]
        args = [now, priority, shape.capacity, shape.window, shape.interval, shape.tolerance,
                shape.insights_limit, shape.insights_interval, shape.insights_tolerance, uuid.uuid4().hex,
                shape.ttl]
        allowed, retry_at, why, detail = self._acquire(keys=keys, args=args)
        retry = float(_text(retry_at))
        if int(allowed) == 1:
            return Decision(True, retry)  # the time the call was taken (never before a call already taken)
        return Decision(False, retry, self._explain(_text(why), _text(detail), scopes, retry, priority))

    def _explain(self, why: str, detail: str, scopes: list[str], retry_at: float, priority: str) -> str:
        shape = self.shape
        if why == "paused":
            index, _, reason = detail.partition("|")
            scope = scopes[int(index) - 1]
            return f"{scope} paused until {_iso(retry_at)}" + (f" ({reason})" if reason else "")
        if why == "window":
            return f"{shape.capacity} calls already made in the last {shape.window:g}s"
        if why == "share":
            return (f"insights may use {shape.insights_limit} of {shape.capacity} calls per window; "
                    "the rest is kept for publishing")
        return f"{priority} calls are paced (one every {shape.interval:.2f}s); next at {_iso(retry_at)}"

    # ----------------------------------------------------------------------------- pauses

    def pause(self, scope: str, until: float, reason: str, *, now: float | None = None) -> float:
        """Stop every call for ``scope`` until ``until`` (epoch s); returns the pause's (possibly later) end."""
        if not _valid_scope(scope):
            raise ValueError(f"scope must be 'app', 'token:<key>' or 'page:<id>', got {scope!r}")
        now = time.time() if now is None else float(now)
        until = min(float(until), now + MAX_PAUSE_SECONDS)
        ends = float(_text(self._pause(keys=[self._pause_key(scope)], args=[now, until, reason])))
        if until > now and abs(ends - until) < 1e-5:  # this call set or lengthened it: say so once
            log.warning("graph.scope_paused", scope=scope, until=_iso(ends), seconds=round(ends - now, 1),
                        reason=reason)
        return ends

    def resume(self, scope: str) -> None:
        """Lift a pause at once (operators, after a reconnect); a no-op when there is none."""
        self.redis.delete(self._pause_key(scope))

    def paused_until(self, scope: str, now: float | None = None) -> float | None:
        now = time.time() if now is None else float(now)
        raw = self.redis.hget(self._pause_key(scope), "until")
        ends = float(_text(raw)) if raw is not None else None
        return ends if ends is not None and ends > now else None

    # ----------------------------------------------------------------------------- usage and errors

    def pauses_for(self, token_key: str, scope_id: str | None, usage: Usage | None,
                   error: BaseException | None, now: float) -> list[Pause]:
        """What one response says to pause (pure: no Redis), from its usage headers and its error."""
        page = page_scope(scope_id) if scope_id else token_scope(token_key)
        pauses = self._usage_pauses(usage, page, now) if usage is not None else []
        if isinstance(error, RateLimited) and not isinstance(error, BudgetExhausted):
            pauses.append(self._throttle_pause(error, token_key, page, now))
        elif isinstance(error, AuthError):
            pauses.append(Pause(token_scope(token_key), now + AUTH_PAUSE_SECONDS,
                                f"auth error {error.code}: the token is invalid, reconnect the Page"))
        return pauses

    def observe(self, token_key: str, scope_id: str | None, usage: Usage | None,
                error: BaseException | None = None, now: float | None = None) -> list[Pause]:
        """Apply the pauses one response calls for; returns them (empty when none)."""
        now = time.time() if now is None else float(now)
        pauses = self.pauses_for(token_key, scope_id, usage, error, now)
        for item in pauses:
            self.pause(item.scope, item.until, item.reason, now=now)
        return pauses

    def _usage_wait(self, percent: float, cap: float) -> float:
        """Time for the excess over the threshold (plus 1%) to roll out of the window, at most ``cap``."""
        excess = percent - float(self.settings.usage_pause_percent) + 1.0
        return min(cap, float(self.settings.graph_budget_window_seconds) * excess / 100.0)

    def _usage_pauses(self, usage: Usage, page: str, now: float) -> list[Pause]:
        threshold = float(self.settings.usage_pause_percent)
        pauses: list[Pause] = []
        app = _percent(usage.app)
        if app is not None and app >= threshold:
            pauses.append(Pause(APP_SCOPE, now + self._usage_wait(app, APP_PAUSE_SECONDS), f"app usage {app:g}%"))
        business = _highest([_percent(entry) for entries in usage.business.values() for entry in entries])
        page_percent = _highest([_percent(usage.page), business])
        regain = usage.regain_seconds() or 0.0
        if regain > 0:
            pauses.append(Pause(page, now + regain, f"Meta estimates access back in {regain / 60:g} min"))
        elif page_percent is not None and page_percent >= threshold:
            pauses.append(Pause(page, now + self._usage_wait(page_percent, PAGE_PAUSE_SECONDS),
                                f"Page usage {page_percent:g}%"))
        return pauses

    def _throttle_pause(self, error: RateLimited, token_key: str, page: str, now: float) -> Pause:
        window = float(self.settings.graph_budget_window_seconds)
        if error.code == POLICY_BLOCK_CODE and error.subcode == POSTING_TOO_FAST:
            scope, default = page, BLOCK_PAUSE_SECONDS
        elif error.scope == "app":
            scope, default = APP_SCOPE, min(APP_PAUSE_SECONDS, window)
        elif error.scope == "page":
            scope, default = page, min(PAGE_PAUSE_SECONDS, window)
        else:  # "user" (17), "account" (613) and anything new: the token
            scope, default = token_scope(token_key), min(PAGE_PAUSE_SECONDS, window)
        until = error.retry_at if error.retry_at is not None and error.retry_at > now else now + default
        return Pause(scope, until, f"rate limited by Meta (code {error.code})")

    # ----------------------------------------------------------------------------- inspection

    def peek(self, token_key: str, scope_id: str | None = None, now: float | None = None) -> dict[str, Any]:
        """The token's state without taking a call (tests, benchmarks, the CLI)."""
        now = time.time() if now is None else float(now)
        shape = self.shape
        scopes = self.scopes_for(token_key, scope_id)
        pipe = self.redis.pipeline(transaction=False)
        pipe.zcount(self._log_key(token_key), f"({now - shape.window}", "+inf")
        pipe.hmget(self._pace_key(token_key), "tat", "tat_insights")
        for scope in scopes:
            pipe.hget(self._pause_key(scope), "until")
        count, (tat_raw, tat_insights_raw), *pause_raw = pipe.execute()
        ahead = max(0.0, float(_text(tat_raw)) - now) if tat_raw is not None else 0.0
        burst = math.floor((shape.tolerance - ahead) / shape.interval + 1e-6) + 1
        paused = {scope: float(_text(raw)) for scope, raw in zip(scopes, pause_raw)
                  if raw is not None and float(_text(raw)) > now}
        return {
            "capacity": shape.capacity,
            "window_seconds": shape.window,
            "calls_in_window": int(count),
            "tokens": max(0, shape.capacity - int(count)),
            "insights_tokens": max(0, shape.insights_limit - int(count)),
            "burst_tokens": max(0, burst),
            "next_call_at": now + max(0.0, ahead - shape.tolerance),
            "paused_until": paused,
        }


class BudgetHooks:
    """``GraphClient`` hooks: take a call from the budget before sending, learn from Meta after."""

    def __init__(self, budget: GraphBudget, purpose: Priority) -> None:
        if purpose not in PRIORITIES:
            raise ValueError(f"purpose must be one of {PRIORITIES}, got {purpose!r}")
        self.budget = budget
        self.purpose = purpose

    def before_call(self, call: CallInfo) -> None:
        """Raise ``BudgetExhausted`` (nothing is sent) when the budget or a pause refuses the call."""
        try:
            decision = self.budget.acquire(call.token_key, self.purpose, scope_id=call.scope_id)
        except redis.RedisError as exc:
            # Fail closed: without the shared budget no call may leave. Nothing was sent, so Transient.
            raise Transient(f"call budget unavailable ({type(exc).__name__}); nothing was sent") from None
        if not decision.allowed:
            raise BudgetExhausted(f"call budget: {decision.reason}", retry_at=decision.retry_at)

    def after_call(self, call: CallInfo, usage: Usage, error: GraphError | None) -> None:
        """Pause the scopes Meta's headers or error say are (nearly) throttled."""
        self.budget.observe(call.token_key, call.scope_id, usage, error)
