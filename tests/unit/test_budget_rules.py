"""The budget's Python side, exactly: the usage thresholds are inclusive, the pause length formula, a
Meta regain estimate, a throttle's own retry time, and the client hooks handing the right token, purpose
and error to the budget. Written against the mutants a mutation run of graph/budget.py left alive
(bench/mutation.py). (Issue 12 reworks the budget per Page: re-check these after that merge.)"""

from __future__ import annotations

import pytest

from graph.budget import APP_PAUSE_SECONDS, PAGE_PAUSE_SECONDS, BudgetHooks, Decision, Pause, page_scope, token_scope
from graph.client import CallInfo
from graph.errors import BudgetExhausted, RateLimited
from graph.usage import Usage
from tests.unit.test_budget import PAGE, T0, MakeBudget, make_budget, token, usage_headers  # noqa: F401 - fixture

pytestmark = pytest.mark.redis


def test_usage_at_the_threshold_pauses_for_the_excess_plus_one_percent_of_the_window(make_budget: MakeBudget):
    budget = make_budget(usage_pause_percent=90, graph_budget_window_seconds=1000)
    key = token()
    # 90% is the threshold itself: (90 - 90 + 1)% of 1000 s = 10 s, for the app and for the Page.
    assert budget.pauses_for(key, PAGE, usage_headers(app=90, page=90), None, T0) == [
        Pause("app", T0 + 10.0, "app usage 90%"), Pause(page_scope(PAGE), T0 + 10.0, "Page usage 90%")]
    # 95%: 6% of the window; capped at the scope's longest pause.
    assert budget.pauses_for(key, PAGE, usage_headers(page=95), None, T0) == [
        Pause(page_scope(PAGE), T0 + 60.0, "Page usage 95%")]
    capped = make_budget(usage_pause_percent=90, graph_budget_window_seconds=100_000)
    assert capped.pauses_for(key, PAGE, usage_headers(app=100, page=100), None, T0) == [
        Pause("app", T0 + APP_PAUSE_SECONDS, "app usage 100%"),
        Pause(page_scope(PAGE), T0 + PAGE_PAUSE_SECONDS, "Page usage 100%")]


def test_business_usage_counts_as_the_pages_usage(make_budget: MakeBudget):
    budget = make_budget(usage_pause_percent=90, graph_budget_window_seconds=1000)
    assert budget.pauses_for(token(), PAGE, usage_headers(page=10, buc=92), None, T0) == [
        Pause(page_scope(PAGE), T0 + 30.0, "Page usage 92%")]


def test_a_regain_estimate_is_the_pause(make_budget: MakeBudget):
    budget = make_budget(usage_pause_percent=90)
    assert budget.pauses_for(token(), PAGE, usage_headers(buc=10, regain_minutes=1), None, T0) == [
        Pause(page_scope(PAGE), T0 + 60.0, "Meta estimates access back in 1 min")]


def test_a_throttle_with_a_retry_time_now_or_past_waits_the_default(make_budget: MakeBudget):
    budget = make_budget(graph_budget_window_seconds=3600)
    key = token()
    [pause] = budget.pauses_for(key, None, Usage(), RateLimited("limit", code=17, retry_at=T0), T0)
    assert pause == Pause(token_scope(key), T0 + PAGE_PAUSE_SECONDS, "rate limited by Meta (code 17)")
    [later] = budget.pauses_for(key, None, Usage(), RateLimited("limit", code=17, retry_at=T0 + 1), T0)
    assert later.until == T0 + 1


def test_only_368_with_posting_too_fast_is_the_hour_long_page_penalty(make_budget: MakeBudget):
    from graph.errors import POSTING_TOO_FAST

    budget = make_budget(graph_budget_window_seconds=3600)
    key = token()
    [penalty] = budget.pauses_for(key, PAGE, Usage(), RateLimited("too fast", code=368, subcode=POSTING_TOO_FAST), T0)
    assert (penalty.scope, penalty.until) == (page_scope(PAGE), T0 + 3600.0)
    [other] = budget.pauses_for(key, PAGE, Usage(), RateLimited("limit", code=17, subcode=POSTING_TOO_FAST), T0)
    assert (other.scope, other.until) == (token_scope(key), T0 + PAGE_PAUSE_SECONDS)


class _Recorder:
    """A budget that records what the hooks hand it."""

    def __init__(self, decision: Decision) -> None:
        self.decision, self.calls = decision, []

    def acquire(self, *args, **kwargs):
        self.calls.append(("acquire", args, kwargs))
        return self.decision

    def observe(self, *args, **kwargs):
        self.calls.append(("observe", args, kwargs))
        return []


@pytest.mark.parametrize("purpose", ["publish", "insights"])
def test_hooks_hand_the_budget_the_token_the_purpose_and_the_error(purpose):
    budget = _Recorder(Decision(True, T0))
    hooks = BudgetHooks(budget, purpose)  # type: ignore[arg-type]
    call = CallInfo("POST", f"/{PAGE}/feed", True, "tok-1", PAGE)
    hooks.before_call(call)
    error = RateLimited("limit", code=32)
    usage = Usage()
    hooks.after_call(call, usage, error)
    assert budget.calls == [("acquire", ("tok-1", purpose), {"scope_id": PAGE}),
                            ("observe", ("tok-1", PAGE, usage, error), {})]


def test_a_refusal_says_why_and_when_and_an_unknown_purpose_is_refused():
    hooks = BudgetHooks(_Recorder(Decision(False, T0 + 5, "token paused")), "publish")  # type: ignore[arg-type]
    with pytest.raises(BudgetExhausted) as refused:
        hooks.before_call(CallInfo("GET", "/me", False, "tok-1"))
    assert "call budget: token paused" in str(refused.value) and refused.value.retry_at == T0 + 5
    with pytest.raises(ValueError) as bad:
        BudgetHooks(_Recorder(Decision(True, T0)), "reports")  # type: ignore[arg-type]
    assert str(bad.value) == "purpose must be one of ('publish', 'insights'), got 'reports'"


# ----------------------------------------------------------------------------- the numbers operators read


def test_the_shape_of_a_200_an_hour_budget():
    from graph.budget import BudgetShape
    from worker.core.settings import Settings

    shape = BudgetShape.from_settings(Settings().with_overrides(
        graph_calls_per_hour=200, graph_budget_window_seconds=3600, insights_budget_share=0.6))
    assert shape == BudgetShape(capacity=200, window=3601.0, interval=18.005, tolerance=162.045, insights_limit=120,
                                insights_interval=3601.0 / 120, insights_tolerance=5 * 3601.0 / 120, ttl=3783)


def test_peek_after_a_full_burst_and_a_pause(make_budget: MakeBudget):
    budget = make_budget(graph_calls_per_hour=200, graph_budget_window_seconds=3600, insights_budget_share=0.6)
    key = token()
    assert budget.peek(key, PAGE, now=T0) == {
        "capacity": 200, "window_seconds": 3601.0, "calls_in_window": 0, "tokens": 200, "insights_tokens": 120,
        "burst_tokens": 10, "next_call_at": T0, "paused_until": {}}
    assert all(budget.acquire(key, "publish", T0, scope_id=PAGE).allowed for _ in range(10))  # the burst
    budget.pause(page_scope(PAGE), T0 + 100, "Page usage 95%", now=T0)
    peeked = budget.peek(key, PAGE, now=T0)
    assert peeked == {"capacity": 200, "window_seconds": 3601.0, "calls_in_window": 10, "tokens": 190,
                      "insights_tokens": 110, "burst_tokens": 0, "next_call_at": pytest.approx(T0 + 18.005, abs=1e-6),
                      "paused_until": {page_scope(PAGE): T0 + 100}}
    assert budget.peek_many([(key, PAGE), (token(), None)], now=T0) == [
        {"capacity": 200, "calls_in_window": 10, "paused_until": {page_scope(PAGE): T0 + 100}},
        {"capacity": 200, "calls_in_window": 0, "paused_until": {}}]
    # A pause ends at its instant.
    assert budget.peek_many([(key, PAGE)], now=T0 + 100)[0]["paused_until"] == {}
    assert budget.peek(key, PAGE, now=T0 + 100)["paused_until"] == {}


def test_a_refusal_by_a_pause_names_the_scope_the_time_and_the_reason(make_budget: MakeBudget, monkeypatch):
    import time

    monkeypatch.setenv("TZ", "America/New_York")  # the time is UTC whatever the machine's zone
    time.tzset()
    budget = make_budget()
    key = token()
    budget.pause(page_scope(PAGE), T0 + 100, "Page usage 95%", now=T0)
    decision = budget.acquire(key, "publish", T0 + 1, scope_id=PAGE)
    assert (decision.allowed, decision.retry_at) == (False, T0 + 100)
    try:
        assert decision.reason == "page:1234567890 paused until 2030-03-17T17:48:20Z (Page usage 95%)"
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


def test_paused_until_ends_at_the_instant_and_reads_the_clock_by_default(make_budget: MakeBudget):
    import time

    budget = make_budget()
    scope = token_scope(token())
    budget.pause(scope, T0 + 10, "test", now=T0)
    assert budget.paused_until(scope, now=T0 + 9.5) == T0 + 10
    assert budget.paused_until(scope, now=T0 + 10) is None
    assert budget.paused_until(scope) == T0 + 10  # by the real clock (before T0) it still holds
    ended = token_scope(token())
    budget.pause(ended, time.time() + 0.5, "test", now=time.time() - 600)
    assert budget.paused_until(ended, now=time.time() + 1) is None


@pytest.mark.parametrize(("call", "message"), [
    (lambda b: b.acquire("", "publish", T0), "token_key is required"),
    (lambda b: b.acquire("k", "reports", T0), "priority must be one of ('publish', 'insights'), got 'reports'"),
    (lambda b: b.pause("tenant:1", T0 + 1, "x", now=T0),
     "scope must be 'app', 'token:<key>' or 'page:<id>', got 'tenant:1'"),
])
def test_bad_arguments_are_refused_with_a_plain_message(make_budget: MakeBudget, call, message):
    with pytest.raises(ValueError) as refused:
        call(make_budget())
    assert str(refused.value) == message


def test_the_shape_of_a_small_budget_with_a_tiny_insights_share():
    from graph.budget import BudgetShape
    from worker.core.settings import Settings

    shape = BudgetShape.from_settings(Settings().with_overrides(
        graph_calls_per_hour=30, graph_budget_window_seconds=50, insights_budget_share=0.01))
    # A burst of max(1, 30 // 20) = 1: no tolerance; insights still get one call per window.
    assert shape == BudgetShape(capacity=30, window=50.5, interval=50.5 / 30, tolerance=0.0, insights_limit=1,
                                insights_interval=50.5, insights_tolerance=0.0, ttl=102)


def test_usage_entries_count_only_finite_numbers():
    from graph.budget import _percent

    assert _percent({"call_count": True, "total_time": "95", "total_cputime": float("nan")}) is None
    assert _percent({"call_count": 91, "total_time": 3}) == 91.0
    assert _percent({}) is None and _percent(None) is None


def test_redis_replies_are_read_as_text():
    from graph.budget import _text

    assert (_text(b"1.5"), _text("1.5"), _text(2)) == ("1.5", "1.5", "2")


def test_a_token_scope_may_hold_a_colon_and_the_default_priority_is_publish(make_budget: MakeBudget):
    budget = make_budget()
    key = f"{token()}:x"
    assert budget.pause(token_scope(key), T0 + 5, "test", now=T0) == T0 + 5
    assert budget.paused_until(token_scope(key), now=T0) == T0 + 5
    assert budget.acquire(token(), now=T0).allowed


def test_without_redis_no_call_leaves_and_the_error_names_why():
    import redis

    from graph.errors import Transient

    class Down(_Recorder):
        def acquire(self, *args, **kwargs):
            raise redis.ConnectionError("refused")

    with pytest.raises(Transient) as failed:
        BudgetHooks(Down(Decision(True, T0)), "publish").before_call(CallInfo("GET", "/me", False, "tok"))  # type: ignore[arg-type]
    assert "call budget unavailable (ConnectionError); nothing was sent" in str(failed.value)


def test_the_shape_when_publishing_needs_the_longer_ttl():
    from graph.budget import BudgetShape
    from worker.core.settings import Settings

    shape = BudgetShape.from_settings(Settings().with_overrides(
        graph_calls_per_hour=200, graph_budget_window_seconds=3600, insights_budget_share=0.15))
    # 30 insights calls: a burst of 30 // 20 = 1, so no insights tolerance; publishing's burst sets the TTL.
    assert (shape.insights_limit, shape.insights_tolerance, shape.ttl) == (30, 0.0, 3783)


def test_peek_of_a_small_budget_used_up(make_budget: MakeBudget):
    budget = make_budget(graph_calls_per_hour=30, graph_budget_window_seconds=50, insights_budget_share=0.01)
    key, full = token(), token()
    budget.acquire(key, "publish", T0)
    assert budget.peek(key, now=T0 + 1.5)["next_call_at"] == pytest.approx(T0 + 50.5 / 30, abs=1e-6)
    assert all(budget.acquire(full, "publish", T0 + i * 1.7).allowed for i in range(30))
    peeked = budget.peek(full, now=T0 + 49.35)
    assert (peeked["calls_in_window"], peeked["tokens"], peeked["insights_tokens"]) == (30, 0, 0)
    assert budget.peek(token())["calls_in_window"] == 0  # by the clock
    assert budget.peek_many([(token(), None)])[0]["calls_in_window"] == 0
    import time

    before = time.time()
    assert budget.pause(token_scope(token()), before + 60, "by the clock") == pytest.approx(before + 60, abs=1e-3)


def test_insights_refused_for_their_share_say_so(make_budget: MakeBudget):
    budget = make_budget(graph_calls_per_hour=200, graph_budget_window_seconds=3600, insights_budget_share=0.6)
    key = token()
    interval = budget.shape.insights_interval
    assert all(budget.acquire(key, "insights", T0 + i * interval).allowed for i in range(120))
    refused = budget.acquire(key, "insights", T0 + 3600)
    assert refused.reason == "insights may use 120 of 200 calls per window; the rest is kept for publishing"


@pytest.mark.parametrize(("reason", "said"), [("", ""), ("a|b", " (a|b)")])
def test_a_pause_reason_is_said_only_when_there_is_one_and_may_hold_a_bar(make_budget: MakeBudget, reason, said):
    budget = make_budget()
    budget.pause(page_scope(PAGE), T0 + 100, reason, now=T0)
    assert budget.acquire(token(), "publish", T0 + 1, scope_id=PAGE).reason == (
        f"page:{PAGE} paused until 2030-03-17T17:48:20Z{said}")
