"""The demo's in-process budget keeps the Redis budget's pause rules: pauses per scope (the longest
wins, resume lifts one), the same refusal shape, the clock when no time is given. Written for the
mutants a mutation run of graph/local_budget.py found without any fast test (bench/mutation.py). Since
issue 12 it keeps the Redis budget's per-Page rolling window too (24 x graph_calls_per_hour calls per
Page, whatever the token; insights only up to its share; publishing the whole window), the Reels slots
and the pauses listing of token health: the tests below pin each, at the window's exact boundary."""

from __future__ import annotations

import time

import pytest

from graph.budget import Decision, page_scope, token_scope
from graph.local_budget import ProcessBudget
from worker.core.settings import Settings

T0 = 1_900_000_000.0


def _budget(**overrides) -> ProcessBudget:
    values = {"graph_calls_per_hour": 10, "graph_budget_window_seconds": 100, "insights_budget_share": 0.5,
              **overrides}
    return ProcessBudget(Settings().with_overrides(**values))


def test_a_pause_refuses_every_call_of_its_scope_until_it_ends_and_the_longest_wins():
    budget = _budget()
    assert budget.pause(page_scope("p"), T0 + 50, "Page usage 95%") == T0 + 50
    assert budget.pause(page_scope("p"), T0 + 20, "shorter") == T0 + 50  # never shortened
    assert budget.acquire("t", "publish", T0, scope_id="p") == Decision(
        False, T0 + 50, "page:p paused (Page usage 95%)")
    assert budget.acquire("t", "publish", T0).allowed  # another scope
    assert budget.paused_until(page_scope("p"), now=T0 + 49) == T0 + 50
    assert budget.paused_until(page_scope("p"), now=T0 + 50) is None
    assert budget.acquire("t", "publish", T0 + 50, scope_id="p").allowed
    budget.pause(token_scope("t"), T0 + 500, "auth")
    budget.resume(token_scope("t"))
    budget.resume(token_scope("never paused"))
    assert budget.acquire("t", "publish", T0 + 60).allowed


def test_a_token_pause_refuses_that_token_and_the_first_reason_stays_for_an_equal_end():
    budget = _budget()
    budget.pause(token_scope("t"), T0 + 50, "auth error")
    budget.pause(token_scope("t"), T0 + 50, "a later report of the same end")
    assert budget.acquire("t", "publish", T0) == Decision(False, T0 + 50, "token:t paused (auth error)")
    assert budget.paused_until(token_scope("never paused"), now=T0) is None


def test_with_no_insights_share_insights_wait_a_whole_window():
    budget = _budget(insights_budget_share=0.0)
    assert budget.shape.insights_limit == 0
    assert budget.acquire("t", "insights", T0) == Decision(False, T0 + budget.shape.window,
                                                           "insights budget used for this window")


def test_the_clock_is_read_when_no_time_is_given_and_publish_is_the_default_priority():
    budget = _budget()
    before = time.time()
    decision = budget.acquire("t")
    assert decision.allowed and before <= decision.retry_at <= time.time()
    assert budget.peek("t")["calls_in_window"] == 1
    budget.pause(page_scope("p"), time.time() + 600, "test")
    assert budget.paused_until(page_scope("p")) is not None


def _full_window_budget(**overrides) -> ProcessBudget:
    """One call per hour: a window of 24 calls over 101 s (100 s plus the 1 s guard)."""
    return _budget(graph_calls_per_hour=1, **overrides)


def test_the_window_holds_24_calls_per_hour_per_page_whatever_the_token_and_reopens_at_its_oldest_call():
    budget = _full_window_budget()
    assert (budget.shape.capacity, budget.shape.window) == (24, 101.0)
    for i in range(24):  # two tokens of one Page (a reconnect, a second tenant): one allowance
        assert budget.acquire("ab"[i % 2], "publish", T0 + i, scope_id="p") == Decision(True, T0 + i)
    assert budget.acquire("c", "publish", T0 + 30, scope_id="p") == Decision(
        False, T0 + 101, "publish budget used for this window")  # the oldest call (T0) leaves at T0 + 101
    assert budget.acquire("c", "publish", T0 + 30, scope_id="q").allowed  # another Page: its own window
    assert budget.acquire("c", "publish", T0 + 30).allowed  # no Page: the token's own window
    assert not budget.acquire("a", "publish", T0 + 100.5, scope_id="p").allowed
    assert budget.acquire("a", "publish", T0 + 101, scope_id="p") == Decision(True, T0 + 101)
    assert budget.acquire("a", "publish", T0 + 101.5, scope_id="p") == Decision(
        False, T0 + 102, "publish budget used for this window")  # next out: the call at T0 + 1
    # peek counts the calls in (now - window, now]: at T0 + 102 the call at T0 + 1 has just left
    assert budget.peek("z", "p", now=T0 + 102) == {"capacity": 24, "window_seconds": 101.0, "calls_in_window": 23}
    assert budget.peek("a", now=T0 + 102)["calls_in_window"] == 0  # the Page's calls are not the token's


def test_publishing_may_fill_the_window_insights_only_its_share():
    budget = _full_window_budget()  # share 0.5: insights may draw while fewer than 12 calls are in the window
    assert budget.shape.insights_limit == 12
    for i in range(20):
        assert budget.acquire("t", "publish", T0 + i, scope_id="p").allowed
    # 20 calls in the window, 12 allowed to insights: it waits until 9 have left, i.e. the one at T0 + 8
    assert budget.acquire("t", "insights", T0 + 20, scope_id="p") == Decision(
        False, T0 + 8 + 101, "insights budget used for this window")
    for i in range(20, 24):
        assert budget.acquire("t", "publish", T0 + i, scope_id="p").allowed
    assert not budget.acquire("t", "publish", T0 + 24, scope_id="p").allowed


def test_an_unknown_priority_is_refused_with_a_plain_message():
    with pytest.raises(ValueError) as bad:
        _budget().acquire("t", "reports")  # type: ignore[arg-type]
    assert str(bad.value) == "priority must be one of ('publish', 'insights'), got 'reports'"


def test_a_scope_never_paused_is_unpaused_at_any_time_even_the_epoch():
    budget = _budget()
    assert budget.acquire("t", "publish", 0.0, scope_id="p").allowed
    assert budget.paused_until(page_scope("p"), now=0.0) is None
    assert budget.pauses_in_force(["app", page_scope("p")], now=0.0) == {}
    assert budget.pause(page_scope("p"), 0.5, "short", now=0.0) == 0.5  # nothing to lengthen


def test_the_reels_slots_are_per_page_over_the_rolling_window():
    budget = _budget(reels_per_window=2)
    assert budget.reserve_reel("p", now=T0) == Decision(True, T0, in_window=1)
    assert budget.reserve_reel("p", now=T0 + 10) == Decision(True, T0 + 10, in_window=2)
    assert budget.reserve_reel("p", now=T0 + 20) == Decision(
        False, T0 + 101, "the Page has published 2 Reels in the window (Meta's limit)")
    assert budget.reserve_reel("q", now=T0 + 20) == Decision(True, T0 + 20, in_window=1)
    assert budget.reels_in_window("p", now=T0 + 20) == 2
    assert budget.reserve_reel("p", now=T0 + 100.5).retry_at == T0 + 101
    assert budget.reserve_reel("p", now=T0 + 101) == Decision(True, T0 + 101, in_window=2)  # T0's left
    assert budget.reserve_reel("p", now=T0 + 102) == Decision(
        False, T0 + 111, "the Page has published 2 Reels in the window (Meta's limit)")  # next out: T0 + 10
    assert budget.reels_in_window("p", now=T0 + 111) == 1  # (now - window, now]: T0 + 10 has just left
    assert budget.reels_in_window("nobody", now=T0) == 0


def test_no_reels_allowed_means_a_whole_window_and_the_clock_is_read_when_no_time_is_given():
    budget = _budget(reels_per_window=0)
    assert budget.reserve_reel("p", now=T0) == Decision(
        False, T0 + 101, "the Page has published 0 Reels in the window (Meta's limit)")
    budget = _budget(reels_per_window=1)
    before = time.time()
    taken = budget.reserve_reel("p")
    assert taken.allowed and before <= taken.retry_at <= time.time()
    assert budget.reels_in_window("p") == 1
    assert budget.reels_in_window("p", now=taken.retry_at + 101) == 0


def test_pauses_in_force_lists_each_running_pause_with_its_end_and_reason():
    budget = _budget()
    budget.pause(page_scope("p"), T0 + 50, "Page usage 95%")
    budget.pause(token_scope("t"), T0 + 10, "auth error")
    scopes = ["app", token_scope("t"), page_scope("p")]
    assert budget.pauses_in_force(scopes, now=T0 + 10) == {
        page_scope("p"): {"until": T0 + 50, "reason": "Page usage 95%"}}  # the token's ended at T0 + 10
    assert budget.pauses_in_force(scopes, now=T0 + 9)[token_scope("t")] == {"until": T0 + 10, "reason": "auth error"}
    budget.pause("app", time.time() + 600, "app usage 95%")
    assert list(budget.pauses_in_force(["app"])) == ["app"]  # the clock, when no time is given
