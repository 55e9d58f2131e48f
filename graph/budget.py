"""One shared Graph call budget per Page, held in Redis, plus pauses that follow Meta's limits.

Which limit applies. Calls made with a Page access token count against the Page's Business Use Case
limit: 4,800 calls x the Page's engaged users per **rolling 24 h**, per Page, shared by every app and
token for that Page (developers.facebook.com/docs/graph-api/overview/rate-limiting, "Pages"; and
developers.facebook.com/blog/post/2016/06/16/page-level-rate-limits/: "a 24-hour sliding window ...
4,800 calls per engaged user per 24 hours for any given Page"). So the budget is keyed by the **Page**
(``CallInfo.scope_id``), not by the token: a reconnected Page (new token) or a Page connected by two
tenants still has one allowance. A call with no Page (a user token listing ``/me/accounts``) draws
from its token's budget. ``graph_calls_per_hour`` is the operator's ceiling per Page, per hour: the
window holds ``C = 24 x graph_calls_per_hour`` calls (4,800 at the default, Meta's figure for one
engaged user, the floor). Every worker process on every machine draws from the same budget
(DESIGN.md rule 5), so the state lives in Redis and every decision is one Lua script (one round trip
per Graph call, atomic: two workers can never both take the last call).

Algorithm — a sliding-window log with usage-dependent pacing
-------------------------------------------------------------
For each call, after the pause check below:

1. **Rolling window (the hard cap).** A sorted set per Page holds the time of every call made in
   the last ``W`` seconds (``graph_budget_window_seconds``, 24 h; tests shrink it to compress time,
   plus a guard of 1% of the window, at most 1 s); a call is refused while ``C`` calls are already
   in it. Meta counts over a *rolling* window, so a token bucket or a fixed window would overshoot;
   the log cannot.
2. **Pacing only as usage climbs.** Meta asks callers to "spread out queries evenly between two time
   intervals to avoid sending traffic in spikes" and to "use the rate limiting header to
   dynamically balance your call volume" (rate-limiting guide, best practices); code 613 subcode
   1996 ("inconsistent request volume") is how it punishes spikes. A GCRA (the virtual-scheduling
   form of a token bucket) spaces calls ``s(u)`` apart, where ``u`` is the share of the window
   already used: ``s = 0`` while ``u < p`` (``budget_pacing_from``, 0.5) — an approve-all goes out at
   once, a few dozen calls in a window of thousands is no spike — and above it
   ``s = (W / C) * (u - p) / (1 - p)``, rising to the steady rate ``W / C`` (one call per 18 s at the
   default) as the window fills, so a Page that keeps calling converges on an even stream and never
   meets the hard cap in a burst. The burst tolerated at the current spacing shrinks the same way,
   from ``BURST`` calls at ``u = p`` to one near a full window.
3. **Priority.** Publishing may fill the whole window. Insights may draw only while the window holds
   fewer than ``L = floor(share x C)`` calls (``insights_budget_share``), so publishing always has
   ``C - L`` in reserve; insights is paced by the same rule over its own share (its own TAT).

A refusal returns the earliest time at which every failed check would pass, so the task is retried
then instead of sleeping in the worker.

Pauses
------
``pause(scope, until, reason)`` stops every call for a scope: ``"token:<token_key>"``,
``"page:<page_id>"`` or ``"app"``. The acquire script checks the app's, the token's and its Page's
pauses first, so a paused Page sends nothing from any worker, whichever token or tenant. A pause is
only ever lengthened, never shortened. ``BudgetHooks.after_call`` sets pauses from:

* usage headers (``graph.usage``; invalid values and entries for another object are logged and
  ignored): a Page reading (``X-Page-Usage``, a ``X-Business-Use-Case-Usage`` entry for the call's
  Page) with ``estimated_time_to_regain_access`` > 0 pauses the Page until then (minutes); else a
  reading at or above ``usage_pause_percent`` pauses it long enough for the excess to roll out of
  *its* window — 24 h for ``type=pages`` and ``X-Page-Usage``, one hour for other BUC types and for
  ``X-App-Usage`` (the Platform limit's rolling hour, which pauses the app scope) — at most
  ``PAGE_USAGE_PAUSE_SECONDS`` / ``APP_PAUSE_SECONDS``. Windows other than the budget's shrink with it.
  A Page reading that our own window explains (no more than ``USAGE_EXPLAINED_MARGIN`` points above
  the share of the window our calls fill, known from the same call's acquire) pauses nothing: the
  budget already paces towards that fill, and a pause would only idle a Page Meta is not about to
  throttle. A reading above it means calls we did not make (another app on the Page) or a lower
  limit than ours (fewer engaged users): then it pauses;
* a ``RateLimited`` error — until its ``retry_at``, else a default: app 5 min (codes 4, 341), token
  10 min (17, 613), Page 10 min (32, 80000–80014), each scaled with a shrunk window; and Page 1 hour
  for 368/1390008 ("posting too fast", a penalty, not a window);
* an ``AuthError`` — the token for 15 minutes.

Every key carries a TTL (the window state about two windows, a pause its own length). Keys name a
token only by its fingerprint, never the token. The script touches keys of several scopes, so this
needs one Redis, not a Redis Cluster. Times are epoch seconds from the caller (``now``); a budget's
clock never runs backwards (a caller whose ``now`` is older than the newest call taken is judged at
that newer time).

Reels
-----
Meta limits API-published Reels to 30 per Page per 24 h moving period
(developers.facebook.com/docs/video-api/guides/reels-publishing, "Limitations"). ``reserve_reel``
takes one of those slots for a Page (one small script, only before a Reel upload starts), so a Reel
that would be refused waits, approved, instead of being uploaded and then stuck unpublished.
"""

from __future__ import annotations

import math
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Literal

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
from graph.usage import PAGES_TYPE, Usage
from worker.core.logging import get_logger
from worker.core.settings import Settings

log = get_logger(__name__)

Priority = Literal["publish", "insights"]
PRIORITIES: tuple[str, ...] = ("publish", "insights")
DEFAULT_PREFIX = "socialcal:budget:"
APP_SCOPE = "app"

META_WINDOW_SECONDS = 86400.0  # the Pages BUC window; a shrunk budget window scales the others with it
PLATFORM_WINDOW_SECONDS = 3600.0  # X-App-Usage and the non-Page BUC types: a rolling hour
# Default pauses when Meta gives no time (seconds of Meta time: scaled with a shrunk window).
APP_PAUSE_SECONDS = 300.0  # app limit (4, 341) or X-App-Usage over the threshold
PAGE_PAUSE_SECONDS = 600.0  # Page / user / BUC limits (17, 32, 613, 80000-80014)
PAGE_USAGE_PAUSE_SECONDS = 3600.0  # the most a Page usage reading over the threshold pauses for
# Penalties, not windows: real seconds whatever the window.
BLOCK_PAUSE_SECONDS = 3600.0  # 368/1390008 "posting too fast"
AUTH_PAUSE_SECONDS = 900.0  # dead token: stop the tenant's other tasks until someone reconnects
MAX_PAUSE_SECONDS = 86400.0  # never trust an estimate beyond a day
GUARD_FRACTION = 0.01
GUARD_MAX_SECONDS = 1.0
BURST = 10  # calls tolerated at once at the current spacing once pacing has begun
USAGE_EXPLAINED_MARGIN = 5.0  # percentage points of a Page reading our own window may account for
HOURS_PER_WINDOW = 24

# KEYS[1] pacing hash, KEYS[2] window log, KEYS[3..] pause hashes (app, token, Page).
# ARGV: now, priority, capacity, window, pacing_from, burst, insights_limit, member, ttl.
# Returns {allowed 0|1, retry_at, why, detail, count}; numbers go back as strings because Redis
# truncates Lua numbers to integers.
_ACQUIRE_LUA = """
local function fmt(x) return string.format('%.6f', x) end
local state = redis.call('HMGET', KEYS[1], 'tat', 'tat_insights', 'clock')
local now = math.max(tonumber(ARGV[1]), tonumber(state[3]) or 0)
local insights = ARGV[2] == 'insights'
local capacity = tonumber(ARGV[3])
local window = tonumber(ARGV[4])
local from = tonumber(ARGV[5])
local burst = tonumber(ARGV[6])
local insights_limit = tonumber(ARGV[7])

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

-- spacing and tolerance for 'used' calls of 'full': none below the pacing threshold, then rising
-- linearly to window / full (the steady rate) as the window fills; the burst shrinks likewise.
local function pace(used, full)
  if full < 1 then return 0, 0 end
  local u = used / full
  if u < from or from >= 1 then return 0, 0 end
  local f = math.min(1, (u - from) / (1 - from))
  local spacing = (window / full) * f
  local b = math.max(1, math.floor(burst * (1 - f) + 0.5))
  return spacing, (b - 1) * spacing
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

-- 3. pacing (GCRA, spacing from the window's fill): conforming when now >= TAT - tolerance
local spacing, tolerance = pace(count, capacity)
local tat = math.max(tonumber(state[1]) or now, now)
later(tat - tolerance, 'rate', fmt(spacing))
local tat_insights = now
local spacing_insights = 0
if insights then
  local tol_insights
  spacing_insights, tol_insights = pace(count, insights_limit)
  tat_insights = math.max(tonumber(state[2]) or now, now)
  later(tat_insights - tol_insights, 'rate', fmt(spacing_insights))
end

if retry_at > now + EPS then
  return {0, fmt(retry_at), why, detail, count}
end

local ttl = tonumber(ARGV[9])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', fmt(now - window + EPS))
redis.call('ZADD', KEYS[2], fmt(now), ARGV[8])
redis.call('HSET', KEYS[1], 'tat', fmt(tat + spacing), 'clock', fmt(now))
if insights then
  redis.call('HSET', KEYS[1], 'tat_insights', fmt(tat_insights + spacing_insights))
end
redis.call('EXPIRE', KEYS[1], ttl)
redis.call('EXPIRE', KEYS[2], ttl)
return {1, fmt(now), 'ok', '', count + 1}
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

# KEYS[1] the Page's Reel log; ARGV: now, limit, window, member. Takes a slot, or says when one frees.
_REEL_LUA = """
local now = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local window = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%.6f', now - window))
local count = redis.call('ZCARD', KEYS[1])
if count >= limit then
  if limit < 1 then return {0, string.format('%.6f', now + window), count} end
  local oldest = redis.call('ZRANGE', KEYS[1], count - limit, count - limit, 'WITHSCORES')
  return {0, string.format('%.6f', tonumber(oldest[2]) + window), count}
end
redis.call('ZADD', KEYS[1], string.format('%.6f', now), ARGV[4])
redis.call('EXPIRE', KEYS[1], math.ceil(window) + 1)
return {1, string.format('%.6f', now), count + 1}
"""


@dataclass(frozen=True)
class Decision:
    """The answer to one ``acquire``: refused until ``retry_at`` (epoch seconds), or allowed.

    When allowed, ``retry_at`` is the time the call was counted at. ``in_window`` is the number of
    calls in the window after this decision.
    """

    allowed: bool
    retry_at: float
    reason: str = "ok"
    in_window: int = 0


@dataclass(frozen=True)
class Pause:
    """One pause to apply: a scope key (``app``, ``token:<key>``, ``page:<id>``) until an epoch time."""

    scope: str
    until: float
    reason: str


@dataclass(frozen=True)
class BudgetShape:
    """The numbers the script needs, derived once from settings (see the module docstring)."""

    capacity: int  # C = 24 x graph_calls_per_hour
    window: float  # W plus the guard
    pacing_from: float
    burst: int
    insights_limit: int  # L = floor(share * C), at least 1 when share > 0
    ttl: int
    scale: float  # W / 24 h: how much a shrunk window compresses Meta's time

    @property
    def interval(self) -> float:
        """The steady spacing W / C that a full window converges on."""
        return self.window / self.capacity

    @classmethod
    def from_settings(cls, settings: Settings) -> "BudgetShape":
        capacity = HOURS_PER_WINDOW * int(settings.graph_calls_per_hour)
        base = float(settings.graph_budget_window_seconds)
        window = base + min(GUARD_MAX_SECONDS, base * GUARD_FRACTION)
        share = float(settings.insights_budget_share)
        insights_limit = min(capacity, math.floor(share * capacity + 1e-9))
        if share > 0:
            insights_limit = max(1, insights_limit)
        # Long enough to outlive every logged call and every future TAT (at most BURST spacings ahead).
        ttl = math.ceil(window * 2 + (BURST + 1) * window / max(1, insights_limit)) + 1
        return cls(capacity, window, float(settings.budget_pacing_from), BURST, insights_limit, ttl,
                   base / META_WINDOW_SECONDS)


def token_scope(token_key: str) -> str:
    return f"token:{token_key}"


def page_scope(page_id: str) -> str:
    return f"page:{page_id}"


def budget_key(token_key: str, scope_id: str | None) -> str:
    """Whose window a call draws from: its Page's, else (no Page) its token's."""
    return page_scope(scope_id) if scope_id else token_scope(token_key)


def _valid_scope(scope: str) -> bool:
    if scope == APP_SCOPE:
        return True
    kind, _, ident = scope.partition(":")
    return kind in ("token", "page") and bool(ident)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class GraphBudget:
    """The shared budget and pause state of every Page (and token), in one Redis."""

    def __init__(self, redis_client: redis.Redis, settings: Settings, *, prefix: str = DEFAULT_PREFIX) -> None:
        self.redis = redis_client
        self.settings = settings
        self.prefix = prefix
        self.shape = BudgetShape.from_settings(settings)
        # register_script runs EVALSHA and re-loads the script on NOSCRIPT (e.g. after a Redis restart).
        self._acquire = redis_client.register_script(_ACQUIRE_LUA)
        self._pause = redis_client.register_script(_PAUSE_LUA)
        self._reel = redis_client.register_script(_REEL_LUA)

    # ----------------------------------------------------------------------------- keys

    def _pace_key(self, key: str) -> str:
        return f"{self.prefix}{key}:pace"

    def _log_key(self, key: str) -> str:
        return f"{self.prefix}{key}:window"

    def _pause_key(self, scope: str) -> str:
        return f"{self.prefix}pause:{scope}"

    def _reel_key(self, page_id: str) -> str:
        return f"{self.prefix}page:{page_id}:reels"

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
        """Take one call from the Page's (else the token's) budget, or say when to come back. One round trip."""
        if priority not in PRIORITIES:
            raise ValueError(f"priority must be one of {PRIORITIES}, got {priority!r}")
        if not token_key:
            raise ValueError("token_key is required")
        now = time.time() if now is None else float(now)
        shape = self.shape
        scopes = self.scopes_for(token_key, scope_id)
        key = budget_key(token_key, scope_id)
        keys = [self._pace_key(key), self._log_key(key), *(self._pause_key(s) for s in scopes)]
        args = [now, priority, shape.capacity, shape.window, shape.pacing_from, shape.burst,
                shape.insights_limit, uuid.uuid4().hex, shape.ttl]
        allowed, retry_at, why, detail, count = self._acquire(keys=keys, args=args)
        retry = float(_text(retry_at))
        if int(allowed) == 1:
            return Decision(True, retry, in_window=int(count))
        return Decision(False, retry, self._explain(_text(why), _text(detail), scopes, retry, priority),
                        in_window=int(count))

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
        spacing = float(detail or 0)
        return (f"{priority} calls are paced as the window fills (one every {spacing:.2f}s now); "
                f"next at {_iso(retry_at)}")

    # ----------------------------------------------------------------------------- Reels

    def reserve_reel(self, page_id: str, now: float | None = None) -> Decision:
        """Take one of the Page's API-published Reel slots in the rolling window, or say when one frees."""
        now = time.time() if now is None else float(now)
        limit = int(self.settings.reels_per_window)
        allowed, at, count = self._reel(keys=[self._reel_key(page_id)],
                                        args=[now, limit, self.shape.window, uuid.uuid4().hex])
        retry = float(_text(at))
        if int(allowed) == 1:
            return Decision(True, retry, in_window=int(count))
        return Decision(False, retry, f"the Page has published {limit} Reels through the API in the last "
                        f"{self.shape.window / 3600:g} h (Meta's limit); the next slot opens at {_iso(retry)}",
                        in_window=int(count))

    def reels_in_window(self, page_id: str, now: float | None = None) -> int:
        now = time.time() if now is None else float(now)
        return int(self.redis.zcount(self._reel_key(page_id), f"({now - self.shape.window}", "+inf"))

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

    def pauses_in_force(self, scopes: list[str], now: float | None = None) -> dict[str, dict[str, Any]]:
        """Every pause still running among ``scopes``, with its end and reason (one round trip)."""
        now = time.time() if now is None else float(now)
        pipe = self.redis.pipeline(transaction=False)
        for scope in scopes:
            pipe.hmget(self._pause_key(scope), "until", "reason")
        found = {}
        for scope, (ends, reason) in zip(scopes, pipe.execute()):
            if ends is not None and float(_text(ends)) > now:
                found[scope] = {"until": float(_text(ends)), "reason": _text(reason) if reason else ""}
        return found

    # ----------------------------------------------------------------------------- usage and errors

    def pauses_for(self, token_key: str, scope_id: str | None, usage: Usage | None,
                   error: BaseException | None, now: float, *, path: str = "",
                   own_percent: float | None = None) -> list[Pause]:
        """What one response says to pause (pure: no Redis), from its usage headers and its error.

        ``own_percent``: how full our own window was with this call (from its acquire), if known."""
        page = page_scope(scope_id) if scope_id else token_scope(token_key)
        pauses = self._usage_pauses(usage, scope_id, page, now, path, own_percent) if usage is not None else []
        if isinstance(error, RateLimited) and not isinstance(error, BudgetExhausted):
            pauses.append(self._throttle_pause(error, token_key, page, now))
        elif isinstance(error, AuthError):
            pauses.append(Pause(token_scope(token_key), now + AUTH_PAUSE_SECONDS,
                                f"auth error {error.code}: the token is invalid, reconnect the Page"))
        return pauses

    def observe(self, token_key: str, scope_id: str | None, usage: Usage | None,
                error: BaseException | None = None, now: float | None = None, *, path: str = "",
                own_percent: float | None = None) -> list[Pause]:
        """Apply the pauses one response calls for; returns them (empty when none)."""
        now = time.time() if now is None else float(now)
        pauses = self.pauses_for(token_key, scope_id, usage, error, now, path=path, own_percent=own_percent)
        for item in pauses:
            self.pause(item.scope, item.until, item.reason, now=now)
        return pauses

    def _scaled(self, seconds: float) -> float:
        """Meta-time seconds in this budget's (possibly compressed) time."""
        return seconds * self.shape.scale

    def _usage_wait(self, percent: float, window: float, cap: float) -> float:
        """Time for the excess over the threshold (plus 1%) of ``window`` to roll out, at most ``cap``."""
        excess = percent - float(self.settings.usage_pause_percent) + 1.0
        return min(cap, window * excess / 100.0)

    def _usage_pauses(self, usage: Usage, scope_id: str | None, page: str, now: float, path: str,
                      own_percent: float | None = None) -> list[Pause]:
        threshold = float(self.settings.usage_pause_percent)
        app, readings = usage.readings(scope_id, path=path)
        pauses: list[Pause] = []
        if app is not None and app.percent is not None and app.percent >= threshold:
            wait = self._usage_wait(app.percent, self._scaled(PLATFORM_WINDOW_SECONDS), self._scaled(APP_PAUSE_SECONDS))
            pauses.append(Pause(APP_SCOPE, now + wait, f"app usage {app.percent:g}%"))
        best: Pause | None = None
        for reading in readings:
            if reading.regain_seconds:
                candidate = Pause(page, now + reading.regain_seconds,
                                  f"Meta estimates access back in {reading.regain_seconds / 60:g} min ({reading.limit})")
            elif reading.percent is not None and reading.percent >= threshold:
                if own_percent is not None and reading.percent <= own_percent + USAGE_EXPLAINED_MARGIN:
                    continue  # our own calls explain it, and our pacing already answers it
                window = self.shape.window if reading.limit in ("page", PAGES_TYPE) \
                    else self._scaled(PLATFORM_WINDOW_SECONDS)
                wait = self._usage_wait(reading.percent, window, self._scaled(PAGE_USAGE_PAUSE_SECONDS))
                candidate = Pause(page, now + wait, f"Page usage {reading.percent:g}% ({reading.limit})")
            else:
                continue
            if best is None or candidate.until > best.until:
                best = candidate
        if best is not None:
            pauses.append(best)
        return pauses

    def _throttle_pause(self, error: RateLimited, token_key: str, page: str, now: float) -> Pause:
        if error.code == POLICY_BLOCK_CODE and error.subcode == POSTING_TOO_FAST:
            scope, default = page, BLOCK_PAUSE_SECONDS
        elif error.scope == "app":
            scope, default = APP_SCOPE, self._scaled(APP_PAUSE_SECONDS)
        elif error.scope == "page":
            scope, default = page, self._scaled(PAGE_PAUSE_SECONDS)
        else:  # "user" (17), "account" (613) and anything new: the token
            scope, default = token_scope(token_key), self._scaled(PAGE_PAUSE_SECONDS)
        until = error.retry_at if error.retry_at is not None and error.retry_at > now else now + default
        return Pause(scope, until, f"rate limited by Meta (code {error.code})")

    # ----------------------------------------------------------------------------- inspection

    def peek(self, token_key: str, scope_id: str | None = None, now: float | None = None) -> dict[str, Any]:
        """The Page's budget state without taking a call (tests, benchmarks, the CLI)."""
        now = time.time() if now is None else float(now)
        shape = self.shape
        scopes = self.scopes_for(token_key, scope_id)
        key = budget_key(token_key, scope_id)
        pipe = self.redis.pipeline(transaction=False)
        pipe.zcount(self._log_key(key), f"({now - shape.window}", "+inf")
        pipe.hget(self._pace_key(key), "tat")
        for scope in scopes:
            pipe.hget(self._pause_key(scope), "until")
        count, tat_raw, *pause_raw = pipe.execute()
        ahead = max(0.0, float(_text(tat_raw)) - now) if tat_raw is not None else 0.0
        paused = {scope: float(_text(raw)) for scope, raw in zip(scopes, pause_raw)
                  if raw is not None and float(_text(raw)) > now}
        return {
            "capacity": shape.capacity,
            "window_seconds": shape.window,
            "calls_in_window": int(count),
            "tokens": max(0, shape.capacity - int(count)),
            "insights_tokens": max(0, shape.insights_limit - int(count)),
            "paced_ahead_seconds": ahead,
            "paused_until": paused,
        }

    def peek_many(self, tokens: list[tuple[str, str | None]], now: float | None = None) -> list[dict[str, Any]]:
        """``peek`` for many (token_key, scope_id) pairs in one round trip (status and metrics over every Page)."""
        now = time.time() if now is None else float(now)
        pipe = self.redis.pipeline(transaction=False)
        for token_key, scope_id in tokens:
            pipe.zcount(self._log_key(budget_key(token_key, scope_id)), f"({now - self.shape.window}", "+inf")
            for scope in self.scopes_for(token_key, scope_id):
                pipe.hget(self._pause_key(scope), "until")
        replies = iter(pipe.execute())
        found = []
        for token_key, scope_id in tokens:
            count = int(next(replies))
            paused = {}
            for scope in self.scopes_for(token_key, scope_id):
                raw = next(replies)
                if raw is not None and float(_text(raw)) > now:
                    paused[scope] = float(_text(raw))
            found.append({"capacity": self.shape.capacity, "calls_in_window": count, "paused_until": paused})
        return found


class BudgetHooks:
    """``GraphClient`` hooks: take a call from the budget before sending, learn from Meta after."""

    def __init__(self, budget: GraphBudget, purpose: Priority) -> None:
        if purpose not in PRIORITIES:
            raise ValueError(f"purpose must be one of {PRIORITIES}, got {purpose!r}")
        self.budget = budget
        self.purpose = purpose
        self._own_percent: float | None = None  # how full the Page's window was with the last call taken

    def before_call(self, call: CallInfo) -> None:
        """Raise ``BudgetExhausted`` (nothing is sent) when the budget or a pause refuses the call."""
        try:
            decision = self.budget.acquire(call.token_key, self.purpose, scope_id=call.scope_id)
        except redis.RedisError as exc:
            # Fail closed: without the shared budget no call may leave. Nothing was sent, so Transient.
            raise Transient(f"call budget unavailable ({type(exc).__name__}); nothing was sent") from None
        if not decision.allowed:
            self._own_percent = None
            raise BudgetExhausted(f"call budget: {decision.reason}", retry_at=decision.retry_at)
        self._own_percent = 100.0 * decision.in_window / self.budget.shape.capacity if decision.in_window else None

    def after_call(self, call: CallInfo, usage: Usage, error: GraphError | None) -> None:
        """Pause the scopes Meta's headers or error say are (nearly) throttled."""
        own, self._own_percent = self._own_percent, None
        self.budget.observe(call.token_key, call.scope_id, usage, error, path=call.path, own_percent=own)
