"""The shared call budget's arithmetic, against the real Redis (the Lua script is the thing under test).

Every test gets its own key prefix (the ``app`` pause is global within a prefix), passes ``now``
explicitly to drive the arithmetic, and uses freezegun where the wrapper reads the clock.
"""

from __future__ import annotations

import bisect
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
    shape = BudgetShape.from_settings(Settings().with_overrides(graph_calls_per_hour=200,
                                                                graph_budget_window_seconds=3600))
    assert shape.capacity == 200
    assert shape.window == 3601.0  # one-second guard
    assert shape.interval == pytest.approx(3601 / 200)
    assert shape.tolerance == pytest.approx(9 * 3601 / 200)  # burst of 10 = 200 // 20
    assert shape.insights_limit == 120  # 60% by default
    assert shape.ttl > shape.window

    tiny = BudgetShape.from_settings(Settings().with_overrides(graph_calls_per_hour=1, insights_budget_share=0.3))
    assert tiny.insights_limit == 1 and tiny.tolerance == 0.0  # a burst of one, never zero


# ----------------------------------------------------------------------------- capacity and smoothness


def test_capacity_is_never_exceeded_in_any_rolling_window(make_budget: MakeBudget):
    budget = make_budget(graph_calls_per_hour=60, graph_budget_window_seconds=600)
    key = token()
    calls = greedy(budget, key, T0, T0 + 3 * 600)

    assert max_in_any_window(calls, 600) <= 60
    assert max_in_any_window(calls, budget.shape.window) <= 60
    # ...and the budget is used, not hoarded: over 95% of three windows' worth.
    assert len(calls) >= 0.95 * 3 * 60


def test_refill_is_smooth_after_a_small_burst(make_budget: MakeBudget):
    budget = make_budget(graph_calls_per_hour=100, graph_budget_window_seconds=1000)
    key = token()
    shape = budget.shape
    calls = greedy(budget, key, T0, T0 + 500)

    burst = 100 // 20
    assert calls[:burst] == [T0] * burst  # a small burst from idle, not the whole hour
    gaps = [b - a for a, b in zip(calls[burst:], calls[burst + 1:])]
    assert gaps and all(gap == pytest.approx(shape.interval, abs=1e-3) for gap in gaps)
    # No tenth of a window ever holds much more than a tenth of the budget.
    assert max_in_any_window(calls, 100) <= burst + 100 / shape.interval + 1


def test_refusal_names_the_exact_time_of_the_next_call(make_budget: MakeBudget):
    budget = make_budget(graph_calls_per_hour=40, graph_budget_window_seconds=3600)
    key = token()
    assert [budget.acquire(key, "publish", T0).allowed for _ in range(2)] == [True, True]  # burst of 2

    refused = budget.acquire(key, "publish", T0)
    assert not refused.allowed
    assert refused.retry_at == pytest.approx(T0 + budget.shape.interval, abs=1e-5)
    assert "paced" in refused.reason
    assert not budget.acquire(key, "publish", refused.retry_at - 0.01).allowed
    assert budget.acquire(key, "publish", refused.retry_at).allowed


def test_a_full_window_refuses_until_its_oldest_call_rolls_off(make_budget: MakeBudget):
    budget = make_budget(graph_calls_per_hour=20, graph_budget_window_seconds=100)
    key = token()
    calls = greedy(budget, key, T0, T0 + budget.shape.window - 0.001)
    assert len(calls) == 20

    refused = budget.acquire(key, "publish", calls[-1] + 0.001)
    assert not refused.allowed
    assert refused.retry_at == pytest.approx(calls[0] + budget.shape.window, abs=1e-5)
    assert "calls already made" in refused.reason


def test_tokens_have_separate_budgets(make_budget: MakeBudget):
    budget = make_budget(graph_calls_per_hour=20, graph_budget_window_seconds=3600)
    first, second = token(), token()
    assert budget.acquire(first, "publish", T0).allowed
    assert not budget.acquire(first, "publish", T0).allowed
    assert budget.acquire(second, "publish", T0).allowed


# ----------------------------------------------------------------------------- priorities


def test_insights_cannot_take_the_publish_reserve(make_budget: MakeBudget):
    budget = make_budget(graph_calls_per_hour=100, graph_budget_window_seconds=1000, insights_budget_share=0.6)
    key = token()
    calls = greedy(budget, key, T0, T0 + 3 * 1000, priority="insights")

    assert max_in_any_window(calls, budget.shape.window) <= 60
    assert len(calls) >= 0.9 * 3 * 60  # insights gets its share, spread out
    # While insights is refused, the publish reserve is untouched.
    now = calls[-1]
    assert not budget.acquire(key, "insights", now).allowed
    assert budget.acquire(key, "publish", now).allowed


def test_publishing_still_draws_when_insights_is_refused(make_budget: MakeBudget):
    budget = make_budget(graph_calls_per_hour=100, graph_budget_window_seconds=1000, insights_budget_share=0.6)
    key = token()
    calls: list[float] = []
    now = T0
    while len(calls) < 60:  # a publishing backlog takes 60 calls...
        decision = budget.acquire(key, "publish", now)
        if decision.allowed:
            calls.append(now)
        else:
            now = decision.retry_at

    # ...so insights must wait for the first of them to roll off the window,
    refused = budget.acquire(key, "insights", now)
    assert not refused.allowed
    assert refused.retry_at == pytest.approx(calls[0] + budget.shape.window, abs=1e-5)
    assert "kept for publishing" in refused.reason
    # while publishing goes on drawing up to the full budget.
    more = greedy(budget, key, now, calls[0] + budget.shape.window)
    assert len(calls) + len(more) == 100


def test_insights_share_of_zero_means_publishing_only(make_budget: MakeBudget):
    budget = make_budget(graph_calls_per_hour=100, graph_budget_window_seconds=1000, insights_budget_share=0.0)
    key = token()
    refused = budget.acquire(key, "insights", T0)
    assert not refused.allowed and refused.retry_at == pytest.approx(T0 + budget.shape.window)
    assert budget.acquire(key, "publish", T0).allowed


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


def test_usage_over_the_threshold_without_an_estimate_pauses_for_the_excess(make_budget: MakeBudget):
    budget = make_budget(usage_pause_percent=90, graph_budget_window_seconds=3600)
    key = token()
    pauses = {p.scope: p for p in budget.observe(key, PAGE, usage_headers(app=95, page=130), now=T0)}
    # app: 6% of the window must roll off (95 - 90 + 1); Page: 41% of an hour, capped at the default.
    assert pauses["app"].until == pytest.approx(T0 + 3600 * 0.06)
    assert pauses[page_scope(PAGE)].until == pytest.approx(T0 + PAGE_PAUSE_SECONDS)
    assert budget.paused_until("app", now=T0) == pytest.approx(T0 + 216)

    shrunk = make_budget(usage_pause_percent=90, graph_budget_window_seconds=20)
    [pause] = shrunk.observe(key, PAGE, usage_headers(page=99), now=T0)
    assert pause.until == pytest.approx(T0 + 20 * 0.10)  # a shrunk window means short pauses


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
    budget = make_budget(graph_budget_window_seconds=3600)
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


def test_default_throttle_pauses_never_outlast_a_shrunk_window_except_blocks(make_budget: MakeBudget):
    budget = make_budget(graph_budget_window_seconds=20)
    key = token()
    [app] = budget.observe(key, PAGE, Usage(), RateLimited("limit", code=4), now=T0)
    [page] = budget.observe(key, PAGE, Usage(), RateLimited("limit", code=80001), now=T0)
    [block] = budget.observe(key, PAGE, Usage(), RateLimited("limit", code=368, subcode=1390008), now=T0)
    assert app.until == T0 + 20 and page.until == T0 + 20
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


def test_concurrent_acquires_at_one_instant_take_exactly_the_burst(make_budget: MakeBudget):
    budget = make_budget(graph_calls_per_hour=400, graph_budget_window_seconds=3600)  # burst 20
    key = token()
    results: list[bool] = []
    lock = threading.Lock()
    start = threading.Barrier(16)

    def worker() -> None:
        start.wait()
        for _ in range(10):
            allowed = budget.acquire(key, "publish", T0).allowed
            with lock:
                results.append(allowed)

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 160
    assert sum(results) == 20


def test_concurrent_acquires_never_exceed_the_capacity(make_budget: MakeBudget):
    budget = make_budget(graph_calls_per_hour=50, graph_budget_window_seconds=100)
    key = token()
    clock = itertools.count()
    allowed: list[float] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def worker() -> None:
        start.wait()
        for _ in range(300):
            now = T0 + next(clock) * 0.25  # a shared virtual clock, 600 s over all threads
            decision = budget.acquire(key, "publish" if now % 2 else "insights", now)
            if decision.allowed:
                with lock:
                    allowed.append(decision.retry_at)  # the time it was counted at

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert max_in_any_window(allowed, budget.shape.window) <= 50
    assert len(allowed) >= 200  # it still lets calls through: roughly 50 per 100 s


# ----------------------------------------------------------------------------- hooks and wiring


def test_hooks_refuse_with_budget_exhausted_and_learn_from_responses(make_budget: MakeBudget):
    budget = make_budget(graph_calls_per_hour=40, graph_budget_window_seconds=3600)
    hooks = BudgetHooks(budget, "publish")
    call = CallInfo("POST", f"/{PAGE}/feed", True, token(), PAGE)

    with freeze_time("2030-01-01 00:00:00") as frozen:
        start = frozen().timestamp()
        hooks.before_call(call)
        hooks.before_call(call)  # the burst of two
        with pytest.raises(BudgetExhausted) as refused:
            hooks.before_call(call)
        assert refused.value.retry_at == pytest.approx(start + budget.shape.interval, abs=1e-5)
        assert refused.value.scope == "budget"

        frozen.tick(budget.shape.interval)
        hooks.before_call(call)

        hooks.after_call(call, usage_headers(buc=100, regain_minutes=3), None)
        with pytest.raises(BudgetExhausted) as paused:
            hooks.before_call(call)
        assert paused.value.retry_at == pytest.approx(start + budget.shape.interval + 180, abs=1e-5)
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
    budget = make_budget(graph_calls_per_hour=50, graph_budget_window_seconds=100)
    key = token()
    budget.acquire(key, "publish", T0, scope_id=PAGE)
    budget.acquire(key, "insights", T0, scope_id=PAGE)
    budget.pause(page_scope(PAGE), T0 + 30, "x", now=T0)
    budget.pause("app", T0 + 30, "x", now=T0)
    keys = list(redis_client.scan_iter(match=budget.prefix + "*"))
    assert len(keys) == 4
    for name in keys:
        ttl = redis_client.ttl(name)
        assert 0 < ttl <= budget.shape.ttl


def test_peek_reports_tokens_and_pauses(make_budget: MakeBudget):
    budget = make_budget(graph_calls_per_hour=100, graph_budget_window_seconds=1000, insights_budget_share=0.6)
    key = token()
    fresh = budget.peek(key, PAGE, now=T0)
    assert fresh["tokens"] == 100 and fresh["insights_tokens"] == 60 and fresh["burst_tokens"] == 5
    assert fresh["paused_until"] == {}

    for _ in range(3):
        budget.acquire(key, "publish", T0, scope_id=PAGE)
    budget.pause(page_scope(PAGE), T0 + 50, "x", now=T0)
    state = budget.peek(key, PAGE, now=T0)
    assert state["calls_in_window"] == 3 and state["tokens"] == 97 and state["insights_tokens"] == 57
    assert state["burst_tokens"] == 2
    assert state["paused_until"] == {page_scope(PAGE): pytest.approx(T0 + 50)}
    assert budget.peek(key, PAGE, now=T0 + budget.shape.window)["calls_in_window"] == 0
