"""The shared call budget's arithmetic, against the real Redis (the Lua script is the thing under test).

Every test gets its own key prefix (the ``app`` pause is global within a prefix), passes ``now``
explicitly to drive the arithmetic, and uses freezegun where the wrapper reads the clock.
"""

from __future__ import annotations

import bisect
import json
import itertools
import threading
import uuid
from typing import Callable, Iterator

import pytest
import redis
from freezegun import freeze_time
from redis.backoff import NoBackoff
from redis.retry import Retry

from graph.budget import (
    APP_PAUSE_SECONDS,
    AUTH_PAUSE_SECONDS,
    BLOCK_PAUSE_SECONDS,
    PAGE_PAUSE_SECONDS,
    PAGE_USAGE_PAUSE_SECONDS,
    BudgetHooks,
    BudgetShape,
    GraphBudget,
    page_scope,
    token_scope,
)
from graph.client import CallInfo
from graph.errors import (
    POSTING_TOO_FAST,
    AuthError,
    BudgetExhausted,
    PolicyBlocked,
    RateLimited,
    Transient,
    error_from_response,
)
from graph.usage import Usage
from tasks.domain.clients import hooks_for
from worker.core.settings import Settings

pytestmark = pytest.mark.redis

T0 = 1_900_000_000.0
PAGE = "1234567890"

MakeBudget = Callable[..., GraphBudget]


@pytest.fixture
def make_budget(redis_client: redis.Redis) -> Iterator[MakeBudget]:
    """Budgets with a unique key prefix each; their keys are deleted afterwards."""
    prefixes: list[str] = []

    def make(**overrides: object) -> GraphBudget:
        prefix = f"test:budget:{uuid.uuid4().hex}:"
        prefixes.append(prefix)
        return GraphBudget(redis_client, Settings().with_overrides(**overrides), prefix=prefix)

    yield make
    for prefix in prefixes:
        keys = list(redis_client.scan_iter(match=prefix + "*"))
        if keys:
            redis_client.delete(*keys)


def token() -> str:
    return uuid.uuid4().hex[:16]


def greedy(budget: GraphBudget, key: str, start: float, end: float, priority: str = "publish",
           scope_id: str | None = None) -> list[float]:
    """A backlog that calls whenever allowed and otherwise comes back exactly at retry_at."""
    allowed: list[float] = []
    now = start
    for _ in range(100_000):
        if now >= end:
            return allowed
        decision = budget.acquire(key, priority, now, scope_id=scope_id)  # type: ignore[arg-type]
        if decision.allowed:
            allowed.append(now)
        else:
            assert decision.retry_at > now, "a refusal must name a later time"
            now = decision.retry_at
    raise AssertionError("simulation did not finish")


def max_in_any_window(times: list[float], window: float) -> int:
    """The most calls inside any half-open rolling window (t - window, t]."""
    ordered = sorted(times)
    return max((i + 1 - bisect.bisect_right(ordered, t - window) for i, t in enumerate(ordered)), default=0)


# ----------------------------------------------------------------------------- shape


def test_shape_from_settings():
    shape = BudgetShape.from_settings(Settings())
    assert shape.capacity == 4800  # 24 x 200: Meta's Pages BUC limit for one engaged user, per 24 h
    assert shape.window == 86401.0  # Meta's rolling 24 h plus a one-second guard
    assert shape.interval == pytest.approx(86401 / 4800)  # the steady rate a full window converges on
    assert shape.insights_limit == 2880  # 60% by default
    assert shape.pacing_from == 0.5 and shape.scale == 1.0
    assert shape.ttl > shape.window

    shrunk = BudgetShape.from_settings(Settings().with_overrides(graph_calls_per_hour=10,
                                                                 graph_budget_window_seconds=864))
    assert shrunk.capacity == 240 and shrunk.scale == pytest.approx(0.01)  # compressed time, same calls
    tiny = BudgetShape.from_settings(Settings().with_overrides(graph_calls_per_hour=1, insights_budget_share=0.01))
    assert tiny.insights_limit == 1  # never zero while the share is above zero


# ----------------------------------------------------------------------------- capacity and pacing


def test_capacity_is_never_exceeded_in_any_rolling_window(make_budget: MakeBudget):
    budget = make_budget(graph_calls_per_hour=5, graph_budget_window_seconds=600)  # 120 per 600 s
    key = token()
    calls = greedy(budget, key, T0, T0 + 3 * 600, scope_id=PAGE)

    assert max_in_any_window(calls, 600) <= 120
    assert max_in_any_window(calls, budget.shape.window) <= 120
    # ...and the budget is used, not hoarded: over 95% of three windows' worth.
    assert len(calls) >= 0.95 * 3 * 120


def test_a_mostly_free_window_sends_a_burst_at_once(make_budget: MakeBudget):
    """Approve-all: while under the pacing threshold nothing waits (a few dozen calls of thousands)."""
    budget = make_budget()  # production settings: 4800 per 24 h
    key = token()
    decisions = [budget.acquire(key, "publish", T0, scope_id=PAGE) for _ in range(60)]
    assert all(d.allowed for d in decisions)
    assert decisions[-1].in_window == 60


def test_calls_spread_out_as_the_window_fills(make_budget: MakeBudget):
    budget = make_budget(graph_calls_per_hour=10, graph_budget_window_seconds=2400)  # 240 per window
    key = token()
    shape = budget.shape
    calls = greedy(budget, key, T0, T0 + shape.window - 1, scope_id=PAGE)

    half = int(shape.capacity * shape.pacing_from)
    assert calls[:half] == [T0] * half  # free half: all at once
    later = calls[half:]
    gaps = [b - a for a, b in zip(later, later[1:]) if b > a]
    assert gaps, "past the threshold calls must be spaced"
    # Spacing grows with the fill; the longest wait is a shrinking burst's worth of the steady rate W / C.
    assert gaps[-1] > gaps[0]
    assert max(gaps) <= shape.burst * shape.interval
    # Near a full window the stream is even: no burst of more than a couple of calls at one instant.
    tail = [t for t in calls if t > calls[-1] - 10 * shape.interval]
    assert max(tail.count(t) for t in tail) <= 2
    assert max_in_any_window(calls, shape.window) <= shape.capacity


def test_refusal_names_the_exact_time_of_the_next_call(make_budget: MakeBudget):
    budget = make_budget(graph_calls_per_hour=1, graph_budget_window_seconds=2400, budget_pacing_from=0.0)
    key = token()  # C = 24, pacing from the first call: spacing 0, then (W/C) * 1/24, ...
    first = budget.acquire(key, "publish", T0, scope_id=PAGE)
    assert first.allowed
    now = T0
    refused = None
    for _ in range(30):
        decision = budget.acquire(key, "publish", now, scope_id=PAGE)
        if not decision.allowed:
            refused = decision
            break
    assert refused is not None and "paced" in refused.reason
    assert not budget.acquire(key, "publish", refused.retry_at - 0.01, scope_id=PAGE).allowed
    assert budget.acquire(key, "publish", refused.retry_at, scope_id=PAGE).allowed


def test_a_full_window_refuses_until_its_oldest_call_rolls_off(make_budget: MakeBudget):
    budget = make_budget(graph_calls_per_hour=1, graph_budget_window_seconds=100)  # 24 per window
    key = token()
    calls = greedy(budget, key, T0, T0 + budget.shape.window - 0.001, scope_id=PAGE)
    assert len(calls) == 24

    refused = budget.acquire(key, "publish", calls[-1] + 0.001, scope_id=PAGE)
    assert not refused.allowed
    assert refused.retry_at == pytest.approx(calls[0] + budget.shape.window, abs=1e-5)
    assert "calls already made" in refused.reason


def test_one_budget_per_page_whatever_the_token(make_budget: MakeBudget):
    """Meta counts Page-token calls per Page, shared by every app and token: a reconnected Page or a
    Page connected by two tenants has one allowance, not two."""
    budget = make_budget(graph_calls_per_hour=1, graph_budget_window_seconds=3600)  # 24 per window
    first, second = token(), token()
    end = T0 + budget.shape.window - 1
    taken = greedy(budget, first, T0, end, scope_id=PAGE)
    assert len(taken) == 24
    refused = budget.acquire(second, "publish", end, scope_id=PAGE)  # same Page, another token
    assert not refused.allowed and "calls already made" in refused.reason
    assert budget.acquire(second, "publish", end, scope_id="other-page").allowed
    assert budget.peek(second, PAGE, now=end)["calls_in_window"] == 24


def test_calls_without_a_page_draw_from_their_token(make_budget: MakeBudget):
    budget = make_budget(graph_calls_per_hour=1, graph_budget_window_seconds=3600)
    first, second = token(), token()
    end = T0 + budget.shape.window - 1
    assert len(greedy(budget, first, T0, end)) == 24
    assert not budget.acquire(first, "publish", end).allowed
    assert budget.acquire(second, "publish", end).allowed


# ----------------------------------------------------------------------------- priorities


def test_insights_cannot_take_the_publish_reserve(make_budget: MakeBudget):
    budget = make_budget(graph_calls_per_hour=5, graph_budget_window_seconds=1000, insights_budget_share=0.5)
    key = token()  # C = 120, L = 60
    calls = greedy(budget, key, T0, T0 + 3 * 1000, priority="insights", scope_id=PAGE)

    assert max_in_any_window(calls, budget.shape.window) <= 60
    assert len(calls) >= 0.9 * 3 * 60  # insights gets its share
    now = calls[-1]
    assert not budget.acquire(key, "insights", now, scope_id=PAGE).allowed
    assert budget.acquire(key, "publish", now, scope_id=PAGE).allowed


def test_publishing_still_draws_when_insights_is_refused(make_budget: MakeBudget):
    budget = make_budget(graph_calls_per_hour=5, graph_budget_window_seconds=1000, insights_budget_share=0.5)
    key = token()
    calls: list[float] = []
    now = T0
    while len(calls) < 60:  # a publishing backlog takes 60 calls (the free half: at once)...
        decision = budget.acquire(key, "publish", now, scope_id=PAGE)
        if decision.allowed:
            calls.append(now)
        else:
            now = decision.retry_at

    # ...so insights must wait for the first of them to roll off the window,
    refused = budget.acquire(key, "insights", now, scope_id=PAGE)
    assert not refused.allowed
    assert refused.retry_at == pytest.approx(calls[0] + budget.shape.window, abs=1e-5)
    assert "kept for publishing" in refused.reason
    # while publishing goes on drawing up to the full budget.
    more = greedy(budget, key, now, calls[0] + budget.shape.window - 1e-3, scope_id=PAGE)
    assert len(calls) + len(more) == 120


def test_insights_share_of_zero_means_publishing_only(make_budget: MakeBudget):
    budget = make_budget(graph_calls_per_hour=5, graph_budget_window_seconds=1000, insights_budget_share=0.0)
    key = token()
    refused = budget.acquire(key, "insights", T0, scope_id=PAGE)
    assert not refused.allowed and refused.retry_at == pytest.approx(T0 + budget.shape.window)
    assert budget.acquire(key, "publish", T0, scope_id=PAGE).allowed


# ----------------------------------------------------------------------------- pauses


def test_pauses_refuse_every_call_of_their_scope_until_they_end(make_budget: MakeBudget):
    budget = make_budget(graph_calls_per_hour=200)
    key, other = token(), token()
    budget.pause(page_scope(PAGE), T0 + 100, "test", now=T0)

    for priority in ("publish", "insights"):
        refused = budget.acquire(key, priority, T0 + 1, scope_id=PAGE)  # type: ignore[arg-type]
        assert not refused.allowed and refused.retry_at == pytest.approx(T0 + 100)
        assert f"page:{PAGE} paused" in refused.reason and "(test)" in refused.reason
    assert budget.acquire(other, "publish", T0 + 1, scope_id="other-page").allowed
    assert budget.acquire(key, "publish", T0 + 100, scope_id=PAGE).allowed

    budget.pause(token_scope(key), T0 + 300, "token", now=T0 + 100)
    assert budget.acquire(key, "publish", T0 + 299, scope_id=PAGE).retry_at == pytest.approx(T0 + 300)
    assert budget.acquire(other, "publish", T0 + 299).allowed

    budget.pause("app", T0 + 500, "app", now=T0 + 300)
    assert not budget.acquire(other, "publish", T0 + 400).allowed
    assert not budget.acquire(token(), "insights", T0 + 400).allowed
    assert budget.acquire(other, "publish", T0 + 500).allowed


def test_a_pause_is_lengthened_never_shortened(make_budget: MakeBudget):
    budget = make_budget()
    scope = token_scope(token())
    assert budget.pause(scope, T0 + 600, "long", now=T0) == pytest.approx(T0 + 600)
    assert budget.pause(scope, T0 + 60, "short", now=T0) == pytest.approx(T0 + 600)
    assert budget.paused_until(scope, now=T0) == pytest.approx(T0 + 600)
    assert budget.pause(scope, T0 + 900, "longer", now=T0) == pytest.approx(T0 + 900)
    budget.resume(scope)
    assert budget.paused_until(scope, now=T0) is None


def test_pause_rejects_unknown_scopes(make_budget: MakeBudget):
    budget = make_budget()
    for bad in ("", "page:", "tenant:1", "apps"):
        with pytest.raises(ValueError):
            budget.pause(bad, T0 + 10, "x", now=T0)


def test_a_refused_call_spends_nothing(make_budget: MakeBudget):
    budget = make_budget(graph_calls_per_hour=20, graph_budget_window_seconds=3600)
    key = token()
    budget.pause(token_scope(key), T0 + 10, "test", now=T0)
    for _ in range(5):
        assert not budget.acquire(key, "publish", T0).allowed
    assert budget.peek(key, now=T0)["calls_in_window"] == 0
    assert budget.acquire(key, "publish", T0 + 10).allowed


# ----------------------------------------------------------------------------- usage headers and errors


def usage_headers(app: int | None = None, page: int | None = None, buc: int | None = None,
                  regain_minutes: int = 0) -> Usage:
    headers: dict[str, str] = {}
    if app is not None:
        headers["X-App-Usage"] = f'{{"call_count": {app}, "total_time": 1, "total_cputime": 1}}'
    if page is not None:
        headers["X-Page-Usage"] = f'{{"call_count": {page}, "total_time": 1, "total_cputime": 1}}'
    if buc is not None:
        headers["X-Business-Use-Case-Usage"] = (
            f'{{"{PAGE}": [{{"type": "pages", "call_count": {buc}, "total_cputime": 1, "total_time": 1, '
            f'"estimated_time_to_regain_access": {regain_minutes}}}]}}')
    return Usage.from_headers(headers)


def test_usage_below_the_threshold_or_unknown_pauses_nothing(make_budget: MakeBudget):
    budget = make_budget(usage_pause_percent=90)
    key = token()
    assert budget.observe(key, PAGE, usage_headers(app=89, page=50, buc=89), now=T0) == []
    assert budget.observe(key, PAGE, Usage(), now=T0) == []
    assert budget.acquire(key, "publish", T0, scope_id=PAGE).allowed


def test_business_usage_over_the_threshold_pauses_the_page_until_meta_regains_access(make_budget: MakeBudget):
    budget = make_budget(usage_pause_percent=90)
    key = token()
    [pause] = budget.observe(key, PAGE, usage_headers(buc=97, regain_minutes=7), now=T0)
    assert pause.scope == page_scope(PAGE)
    assert pause.until == pytest.approx(T0 + 7 * 60)

    refused = budget.acquire(key, "publish", T0 + 60, scope_id=PAGE)
    assert not refused.allowed and refused.retry_at == pytest.approx(T0 + 420)
    assert budget.acquire(key, "publish", T0 + 420, scope_id=PAGE).allowed


def test_usage_over_the_threshold_without_an_estimate_pauses_for_the_excess_of_its_own_window(make_budget: MakeBudget):
    budget = make_budget(usage_pause_percent=90)  # the 24 h window
    key = token()
    pauses = {p.scope: p for p in budget.observe(key, PAGE, usage_headers(app=95, buc=91), now=T0)}
    # app: the Platform limit's rolling hour, 6% of it must roll off (95 - 90 + 1) = 216 s;
    assert pauses["app"].until == pytest.approx(T0 + 3600 * 0.06)
    # type=pages: 2% of the 24 h window (plus the guard) = about 1728 s, sized to 24 h, not an hour.
    assert pauses[page_scope(PAGE)].until == pytest.approx(T0 + budget.shape.window * 0.02)
    assert budget.paused_until("app", now=T0) == pytest.approx(T0 + 216)
    [capped] = budget.observe(key, PAGE, usage_headers(page=100), now=T0)
    assert capped.until == pytest.approx(T0 + PAGE_USAGE_PAUSE_SECONDS)  # 11% of a day, capped at an hour

    other_type = Usage.from_headers({"X-Business-Use-Case-Usage": json.dumps(
        {PAGE: [{"type": "instagram", "call_count": 95}]})})
    [hourly] = budget.observe(key, PAGE, other_type, now=T0)
    assert hourly.until == pytest.approx(T0 + 3600 * 0.06)  # a one-hour BUC type

    shrunk = make_budget(usage_pause_percent=90, graph_budget_window_seconds=864)  # 1/100 of a day
    [pause] = shrunk.observe(key, PAGE, usage_headers(page=99), now=T0)
    assert pause.until == pytest.approx(T0 + shrunk.shape.window * 0.10)  # a shrunk window means short pauses


@pytest.mark.parametrize("raw", [
    '{"call_count": -5}', '{"call_count": 130}', '{"call_count": "NaN"}', '{"call_count": 1e999}',
    '[1,2]', '{not json', '{"call_count": 95, "estimated_time_to_regain_access": -3}',
])
def test_bad_page_usage_values_are_unknown_not_a_pause(make_budget: MakeBudget, raw: str):
    budget = make_budget(usage_pause_percent=90)
    key = token()
    pauses = budget.observe(key, PAGE, Usage.from_headers({"X-Page-Usage": raw}), now=T0)
    assert all(p.until <= T0 + PAGE_USAGE_PAUSE_SECONDS for p in pauses)
    if raw != '{"call_count": 95, "estimated_time_to_regain_access": -3}':
        assert pauses == []  # out of range or garbled: unknown
    else:  # the valid percentage still counts; the negative estimate does not
        assert [p.scope for p in pauses] == [page_scope(PAGE)]


def test_business_usage_for_another_object_pauses_nothing(make_budget: MakeBudget):
    budget = make_budget(usage_pause_percent=90)
    key = token()
    other = Usage.from_headers({"X-Business-Use-Case-Usage": json.dumps(
        {"999": [{"type": "pages", "call_count": 100, "estimated_time_to_regain_access": 60}]})})
    assert budget.observe(key, PAGE, other, now=T0) == []
    assert budget.acquire(key, "publish", T0 + 1, scope_id=PAGE).allowed
    assert budget.acquire(token(), "publish", T0 + 1, scope_id="999").allowed  # nor the other Page


def test_page_usage_without_a_page_id_pauses_the_token(make_budget: MakeBudget):
    budget = make_budget(usage_pause_percent=90)
    key = token()
    [pause] = budget.observe(key, None, usage_headers(page=100), now=T0)
    assert pause.scope == token_scope(key)
    assert not budget.acquire(key, "publish", T0 + 1).allowed


@pytest.mark.parametrize(("code", "scope", "default"), [
    (4, "app", APP_PAUSE_SECONDS),
    (341, "app", APP_PAUSE_SECONDS),
    (17, "token", PAGE_PAUSE_SECONDS),
    (613, "token", PAGE_PAUSE_SECONDS),
    (32, "page", PAGE_PAUSE_SECONDS),
    (80001, "page", PAGE_PAUSE_SECONDS),
    (80004, "page", PAGE_PAUSE_SECONDS),
    (368, "page", BLOCK_PAUSE_SECONDS),
])
def test_rate_limited_errors_pause_their_scope(make_budget: MakeBudget, code: int, scope: str, default: float):
    budget = make_budget()
    key = token()
    expected_scope = {"app": "app", "token": token_scope(key), "page": page_scope(PAGE)}[scope]
    subcode = POSTING_TOO_FAST if code == 368 else None  # the only 368 that is a rate limit

    [pause] = budget.observe(key, PAGE, Usage(), RateLimited("limit", code=code, subcode=subcode), now=T0)
    assert (pause.scope, pause.until) == (expected_scope, pytest.approx(T0 + default))
    refused = budget.acquire(key, "publish", T0 + 1, scope_id=PAGE)
    assert not refused.allowed and refused.retry_at == pytest.approx(T0 + default)

    # Meta's own time wins over the default, and only lengthens the pause.
    [later] = budget.observe(key, PAGE, Usage(), RateLimited("limit", code=code, subcode=subcode, retry_at=T0 + 5000),
                             now=T0)
    assert later.until == T0 + 5000
    assert budget.paused_until(expected_scope, now=T0) == pytest.approx(T0 + 5000)


def test_default_throttle_pauses_shrink_with_the_window_except_blocks(make_budget: MakeBudget):
    budget = make_budget(graph_budget_window_seconds=8640)  # a tenth of a day
    key = token()
    [app] = budget.observe(key, PAGE, Usage(), RateLimited("limit", code=4), now=T0)
    [page] = budget.observe(key, PAGE, Usage(), RateLimited("limit", code=80001), now=T0)
    [block] = budget.observe(key, PAGE, Usage(), RateLimited("limit", code=368, subcode=1390008), now=T0)
    assert app.until == pytest.approx(T0 + APP_PAUSE_SECONDS / 10)
    assert page.until == pytest.approx(T0 + PAGE_PAUSE_SECONDS / 10)
    assert block.until == T0 + BLOCK_PAUSE_SECONDS


def test_only_posting_too_fast_pauses_the_page_other_368s_pause_nothing(make_budget: MakeBudget):
    """368/1390008 is a frequency limit (the Page waits an hour); any other 368 is one post's content
    blocked under Meta's policies: the Page's other posts must go on."""
    budget = make_budget()
    key = token()
    blocked = error_from_response(400, {"error": {"code": 368, "error_subcode": 1346003,
                                                  "message": "(#368) The action attempted has been deemed abusive"}},
                                  Usage(), is_write=True, is_create=True)
    assert isinstance(blocked, PolicyBlocked)
    assert budget.observe(key, PAGE, Usage(), blocked, now=T0) == []
    assert budget.acquire(key, "publish", T0 + 1, scope_id=PAGE).allowed
    too_fast = error_from_response(400, {"error": {"code": 368, "error_subcode": POSTING_TOO_FAST,
                                                   "message": "(#368) You are posting too fast"}},
                                   Usage(), is_write=True, is_create=True)
    [pause] = budget.observe(key, PAGE, Usage(), too_fast, now=T0)
    assert (pause.scope, pause.until) == (page_scope(PAGE), T0 + BLOCK_PAUSE_SECONDS)


def test_a_throttle_without_a_page_id_pauses_the_token(make_budget: MakeBudget):
    budget = make_budget()
    key = token()
    [pause] = budget.observe(key, None, Usage(), RateLimited("limit", code=32), now=T0)
    assert pause.scope == token_scope(key)


def test_budget_refusals_and_other_errors_pause_nothing(make_budget: MakeBudget):
    budget = make_budget()
    key = token()
    assert budget.observe(key, PAGE, Usage(), BudgetExhausted(retry_at=T0 + 99), now=T0) == []
    assert budget.observe(key, PAGE, Usage(), Transient("boom", code=2), now=T0) == []


def test_an_auth_error_pauses_the_token(make_budget: MakeBudget):
    budget = make_budget()
    key, other = token(), token()
    [pause] = budget.observe(key, PAGE, Usage(), AuthError("expired", code=190, subcode=463), now=T0)
    assert pause.scope == token_scope(key) and pause.until == T0 + AUTH_PAUSE_SECONDS
    assert "reconnect" in pause.reason
    assert not budget.acquire(key, "insights", T0 + 60, scope_id=PAGE).allowed
    assert budget.acquire(other, "insights", T0 + 60, scope_id=PAGE).allowed  # a new token is not paused


# ----------------------------------------------------------------------------- atomicity


def test_concurrent_acquires_at_one_instant_take_exactly_what_the_window_allows(make_budget: MakeBudget):
    budget = make_budget(graph_calls_per_hour=1, graph_budget_window_seconds=3600, budget_pacing_from=1.0)
    key = token()  # 24 per window, no pacing: exactly 24 of 160 racing calls at one instant
    results: list[bool] = []
    lock = threading.Lock()
    start = threading.Barrier(16)

    def worker() -> None:
        start.wait()
        for _ in range(10):
            allowed = budget.acquire(key, "publish", T0, scope_id=PAGE).allowed
            with lock:
                results.append(allowed)

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 160
    assert sum(results) == 24


def test_concurrent_acquires_never_exceed_the_capacity(make_budget: MakeBudget):
    budget = make_budget(graph_calls_per_hour=2, graph_budget_window_seconds=100)  # 48 per 100 s
    key = token()
    clock = itertools.count()
    allowed: list[float] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def worker() -> None:
        start.wait()
        for _ in range(300):
            now = T0 + next(clock) * 0.25  # a shared virtual clock, 600 s over all threads
            decision = budget.acquire(key, "publish" if now % 2 else "insights", now, scope_id=PAGE)
            if decision.allowed:
                with lock:
                    allowed.append(decision.retry_at)  # the time it was counted at

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert max_in_any_window(allowed, budget.shape.window) <= 48
    assert len(allowed) >= 200  # it still lets calls through: roughly 48 per 100 s


# ----------------------------------------------------------------------------- hooks and wiring


def test_hooks_refuse_with_budget_exhausted_and_learn_from_responses(make_budget: MakeBudget):
    budget = make_budget(graph_calls_per_hour=1, graph_budget_window_seconds=3600, budget_pacing_from=1.0)
    hooks = BudgetHooks(budget, "publish")
    call = CallInfo("POST", f"/{PAGE}/feed", True, token(), PAGE)

    with freeze_time("2030-01-01 00:00:00") as frozen:
        start = frozen().timestamp()
        for _ in range(24):
            hooks.before_call(call)  # the whole window
        with pytest.raises(BudgetExhausted) as refused:
            hooks.before_call(call)
        assert refused.value.retry_at == pytest.approx(start + budget.shape.window, abs=1e-5)
        assert refused.value.scope == "budget"

        frozen.tick(budget.shape.window)
        hooks.before_call(call)

        hooks.after_call(call, usage_headers(buc=100, regain_minutes=3), None)
        with pytest.raises(BudgetExhausted) as paused:
            hooks.before_call(call)
        assert paused.value.retry_at == pytest.approx(start + budget.shape.window + 180, abs=1e-5)
        assert f"page:{PAGE} paused" in str(paused.value)


def test_hooks_fail_closed_when_redis_is_unreachable():
    unreachable = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2, socket_timeout=0.2,
                              retry=Retry(NoBackoff(), 0))
    hooks = BudgetHooks(GraphBudget(unreachable, Settings()), "insights")
    with pytest.raises(Transient) as caught:
        hooks.before_call(CallInfo("GET", f"/{PAGE}/insights", False, token(), PAGE))
    assert "nothing was sent" in str(caught.value)


def test_hooks_for_shares_one_budget_per_process():
    settings = Settings().with_overrides(broker_url="redis://127.0.0.1:6379/15")
    publish, insights = hooks_for("publish", settings), hooks_for("insights", settings)
    assert publish.budget is insights.budget
    assert publish.purpose == "publish" and insights.purpose == "insights"
    assert hooks_for("publish", settings).budget is publish.budget
    with pytest.raises(ValueError):
        hooks_for("bulk", settings)  # type: ignore[arg-type]


def test_every_key_expires(make_budget: MakeBudget, redis_client: redis.Redis):
    budget = make_budget(graph_calls_per_hour=2, graph_budget_window_seconds=100)
    key = token()
    budget.acquire(key, "publish", T0, scope_id=PAGE)
    budget.acquire(key, "insights", T0, scope_id=PAGE)
    budget.pause(page_scope(PAGE), T0 + 30, "x", now=T0)
    budget.pause("app", T0 + 30, "x", now=T0)
    budget.reserve_reel(PAGE, now=T0)
    keys = list(redis_client.scan_iter(match=budget.prefix + "*"))
    assert len(keys) == 5
    for name in keys:
        ttl = redis_client.ttl(name)
        assert 0 < ttl <= budget.shape.ttl


def test_peek_reports_tokens_and_pauses(make_budget: MakeBudget):
    budget = make_budget(graph_calls_per_hour=5, graph_budget_window_seconds=1000, insights_budget_share=0.5)
    key = token()
    fresh = budget.peek(key, PAGE, now=T0)
    assert fresh["tokens"] == 120 and fresh["insights_tokens"] == 60
    assert fresh["paused_until"] == {}

    for _ in range(3):
        budget.acquire(key, "publish", T0, scope_id=PAGE)
    budget.pause(page_scope(PAGE), T0 + 50, "x", now=T0)
    state = budget.peek(key, PAGE, now=T0)
    assert state["calls_in_window"] == 3 and state["tokens"] == 117 and state["insights_tokens"] == 57
    assert state["paused_until"] == {page_scope(PAGE): pytest.approx(T0 + 50)}
    assert budget.pauses_in_force([page_scope(PAGE), "app"], now=T0) == {
        page_scope(PAGE): {"until": pytest.approx(T0 + 50), "reason": "x"}}
    assert budget.peek(key, PAGE, now=T0 + budget.shape.window)["calls_in_window"] == 0


# ----------------------------------------------------------------------------- Reels


def test_reels_are_limited_per_page_over_the_rolling_window(make_budget: MakeBudget):
    budget = make_budget()  # Meta: 30 API-published Reels per Page per 24 h
    slots = [budget.reserve_reel(PAGE, now=T0 + i) for i in range(30)]
    assert all(s.allowed for s in slots)
    refused = budget.reserve_reel(PAGE, now=T0 + 100)
    assert not refused.allowed
    assert refused.retry_at == pytest.approx(T0 + budget.shape.window)  # when the first slot rolls off
    assert "30 Reels" in refused.reason
    assert budget.reserve_reel("other-page", now=T0 + 100).allowed
    assert budget.reels_in_window(PAGE, now=T0 + 100) == 30
    assert budget.reserve_reel(PAGE, now=T0 + budget.shape.window + 0.5).allowed


def test_a_page_reading_our_own_window_explains_pauses_nothing(make_budget: MakeBudget):
    """Meta's Page percentage close to our own fill is our own calls: the pacing already answers it.
    Well above it, someone else is spending the Page's limit (or Meta's limit is lower): pause."""
    budget = make_budget(usage_pause_percent=90)
    key = token()
    assert budget.observe(key, PAGE, usage_headers(buc=95), now=T0, own_percent=93.0) == []
    [pause] = budget.observe(key, PAGE, usage_headers(buc=95), now=T0, own_percent=40.0)
    assert pause.scope == page_scope(PAGE)
    # Meta's own estimate of when access is back always pauses.
    [regain] = budget.observe(key, PAGE, usage_headers(buc=95, regain_minutes=2), now=T0, own_percent=95.0)
    assert regain.until == pytest.approx(T0 + 120)


def test_hooks_pass_the_windows_fill_to_the_usage_check(make_budget: MakeBudget):
    budget = make_budget(graph_calls_per_hour=1, graph_budget_window_seconds=3600, budget_pacing_from=1.0,
                         usage_pause_percent=90)
    hooks = BudgetHooks(budget, "publish")
    call = CallInfo("POST", f"/{PAGE}/feed", True, token(), PAGE)
    with freeze_time("2030-01-01 00:00:00"):
        for n in range(1, 24):
            hooks.before_call(call)
            hooks.after_call(call, usage_headers(buc=n * 100 // 24), None)  # Meta's count is ours: explained
        assert budget.paused_until(page_scope(PAGE)) is None
        hooks.after_call(call, usage_headers(buc=95), None)  # no acquire before it: unknown fill, so pause
        assert budget.paused_until(page_scope(PAGE)) is not None


# ----------------------------------------------------------------------------- hostile usage headers (hypothesis)

from hypothesis import given, strategies as st  # noqa: E402

_value = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=True),
                   st.text(max_size=6), st.lists(st.integers(), max_size=2))
_entry = st.dictionaries(st.sampled_from(["type", "call_count", "total_time", "total_cputime",
                                          "estimated_time_to_regain_access", "junk"]), _value, max_size=6)
_header = st.one_of(st.text(max_size=30), st.builds(json.dumps, _entry),
                    st.builds(json.dumps, st.dictionaries(st.sampled_from([PAGE, "999", "", "x" * 50]),
                                                          st.one_of(_entry, st.lists(_entry, max_size=3)),
                                                          max_size=3)))


@given(app=_header, page=_header, buc=_header)
def test_no_usage_header_crashes_or_pauses_another_page(make_budget: MakeBudget, app: str, page: str, buc: str):
    """Whatever Meta (or a proxy) sends in the usage headers: no exception, a Page pause only for the
    call's own Page and never longer than a day, and the app paused only by a valid X-App-Usage."""
    budget = make_budget(usage_pause_percent=90)
    usage = Usage.from_headers({"X-App-Usage": app, "X-Page-Usage": page, "X-Business-Use-Case-Usage": buc})
    pauses = budget.pauses_for("tok", PAGE, usage, None, T0)
    for pause in pauses:
        assert pause.scope in ("app", page_scope(PAGE))
        assert T0 < pause.until <= T0 + 86400
    if any(p.scope == "app" for p in pauses):
        reading, _ = usage.readings(PAGE)
        assert reading is not None and reading.percent is not None and 90 <= reading.percent <= 100
