"""The per-Page budget's numbers, exactly (issue 12's model; written for the mutants a mutation run of
graph/budget.py left alive, bench/mutation.py): the window's guard and key lifetimes, how long each
kind of usage reading pauses (its own window, the excess over the threshold plus 1%), Meta's regain
estimate, which of several readings wins, the boundary of "our own calls explain it", the default
throttle pauses, the refusal texts, peek and the Reels slots field by field.

Times are compared as offsets from T0 (``until - T0``): ``pytest.approx(T0 + x)`` is relative to an
epoch of 1.9e9 and would accept an error of half an hour."""

from __future__ import annotations

import math
import time

import pytest
from freezegun import freeze_time

from graph.budget import BudgetHooks, BudgetShape, Decision, _iso, page_scope, token_scope
from graph.client import CallInfo
from graph.errors import POSTING_TOO_FAST, BudgetExhausted, RateLimited
from graph.usage import Usage
from tests.unit.test_budget import PAGE, T0, MakeBudget, greedy, make_budget, token, usage_headers  # noqa: F401
from worker.core.settings import Settings

pytestmark = pytest.mark.redis

OTHER_PAGE = "2222222222"


def _offset(until: float) -> float:
    return round(until - T0, 4)


# ----------------------------------------------------------------------------- shape


def test_the_guard_is_one_percent_of_a_short_window_and_keys_outlive_two_windows_and_the_pacing_horizon():
    assert BudgetShape.from_settings(Settings().with_overrides(graph_budget_window_seconds=50)).window == 50.5
    # ttl = ceil(2 W + (BURST + 1) W / L) + 1: the log's calls and a TAT up to BURST spacings ahead
    default = BudgetShape.from_settings(Settings())  # W = 86401, L = 2880
    assert default.ttl == math.ceil(2 * 86401 + 11 * 86401 / 2880) + 1 == 173134
    tiny = BudgetShape.from_settings(Settings().with_overrides(graph_calls_per_hour=1, insights_budget_share=0.01))
    assert tiny.insights_limit == 1 and tiny.ttl == 2 * 86401 + 11 * 86401 + 1


# ----------------------------------------------------------------------------- usage pauses


def test_each_reading_pauses_for_its_excess_of_its_own_window(make_budget: MakeBudget):
    budget = make_budget(usage_pause_percent=90)  # W = 86401
    key = token()
    pauses = {p.scope: p for p in budget.pauses_for(key, PAGE, usage_headers(app=95, buc=91), None, T0)}
    assert _offset(pauses["app"].until) == 216.0  # (95 - 90 + 1)% of the app's rolling hour
    assert _offset(pauses[page_scope(PAGE)].until) == 1728.02  # (91 - 90 + 1)% of the Page's 24 h
    assert pauses[page_scope(PAGE)].reason == "Page usage 91% (pages)"
    # at the threshold exactly: 1% of each window
    at = {p.scope: p for p in budget.pauses_for(key, PAGE, usage_headers(app=90, buc=90), None, T0)}
    assert (_offset(at["app"].until), _offset(at[page_scope(PAGE)].until)) == (36.0, 864.01)
    # a reading our own window explains, up to 5 points above our fill inclusive, pauses nothing
    assert budget.pauses_for(key, PAGE, usage_headers(buc=90), None, T0, own_percent=85.0) == []
    assert budget.pauses_for(key, PAGE, usage_headers(buc=91), None, T0, own_percent=85.0) != []


def test_metas_regain_estimate_pauses_the_page_for_exactly_that_long(make_budget: MakeBudget):
    budget = make_budget(usage_pause_percent=90)
    [pause] = budget.pauses_for(token(), PAGE, usage_headers(buc=97, regain_minutes=7), None, T0)
    assert (pause.scope, _offset(pause.until)) == (page_scope(PAGE), 420.0)
    assert pause.reason == "Meta estimates access back in 7 min (pages)"


def test_every_reading_is_weighed_and_the_longest_pause_wins_the_first_on_a_tie(make_budget: MakeBudget):
    budget = make_budget(usage_pause_percent=90)
    key = token()
    # X-Page-Usage comes first: explained by our own fill, then the BUC entry's estimate still pauses
    [pause] = budget.pauses_for(key, PAGE, usage_headers(page=92, buc=92, regain_minutes=5), None, T0,
                                own_percent=90.0)
    assert _offset(pause.until) == 300.0
    # a first reading under the threshold does not hide a later one over it
    [pause] = budget.pauses_for(key, PAGE, usage_headers(page=50, buc=95), None, T0)
    assert pause.reason == "Page usage 95% (pages)"
    # both 95% of the same 24 h: the same end, the first reading's reason
    [pause] = budget.pauses_for(key, PAGE, usage_headers(page=95, buc=95), None, T0)
    assert pause.reason == "Page usage 95% (page)"


def test_a_rate_limit_pauses_by_its_code_and_a_retry_time_of_now_is_no_time(make_budget: MakeBudget):
    budget = make_budget()
    key = token()
    # only code 368 with subcode 1390008 is "posting too fast"; the subcode alone is not
    [pause] = budget.pauses_for(key, PAGE, None, RateLimited("limit", code=17, subcode=POSTING_TOO_FAST), T0)
    assert (pause.scope, _offset(pause.until)) == (token_scope(key), 600.0)
    [pause] = budget.pauses_for(key, PAGE, None, RateLimited("limit", code=32, retry_at=T0), T0)
    assert (pause.scope, _offset(pause.until)) == (page_scope(PAGE), 600.0)


def test_the_hooks_judge_a_page_reading_against_the_fill_of_the_call_they_took(make_budget: MakeBudget):
    budget = make_budget(graph_calls_per_hour=1, usage_pause_percent=50)  # C = 24
    call = CallInfo("POST", f"/{PAGE}/feed", True, token(), PAGE)
    with freeze_time("2030-01-01 00:00:00"):
        fresh = BudgetHooks(budget, "publish")
        fresh.after_call(call, usage_headers(buc=99), None)  # no call taken yet: nothing explains it
        assert budget.paused_until(page_scope(PAGE)) is not None
    with freeze_time("2030-01-02 00:00:00"):
        other = CallInfo("POST", f"/{OTHER_PAGE}/feed", True, token(), OTHER_PAGE)
        hooks = BudgetHooks(budget, "publish")
        for _ in range(12):
            hooks.before_call(other)  # the 12th call fills 12 / 24 = 50% of the window
        hooks.after_call(other, usage_headers(buc=55), None)  # 55 <= 50 + 5: ours
        assert budget.paused_until(page_scope(OTHER_PAGE)) is None
        hooks.before_call(other)  # 13 / 24 = 54.17%
        hooks.after_call(other, Usage.from_headers({"X-Business-Use-Case-Usage":
                                                    f'{{"{OTHER_PAGE}": [{{"type": "pages", "call_count": 59.3}}]}}'}),
                         None)  # 59.3 > 59.17: not ours
        assert budget.paused_until(page_scope(OTHER_PAGE)) is not None
        budget.pause("app", time.time() + 60, "refuse the next call")
        with pytest.raises(BudgetExhausted):
            hooks.before_call(other)
        budget.resume(page_scope(OTHER_PAGE))
        hooks.after_call(other, Usage.from_headers({"X-Business-Use-Case-Usage":
                                                    f'{{"{OTHER_PAGE}": [{{"type": "pages", "call_count": 99}}]}}'}),
                         None)  # after a refusal the fill is unknown: the reading is judged alone, and pauses
        assert budget.paused_until(page_scope(OTHER_PAGE)) is not None


# ----------------------------------------------------------------------------- refusals and peek


def test_refusal_texts_name_the_spacing_the_share_and_the_count(make_budget: MakeBudget):
    budget = make_budget(graph_calls_per_hour=1, graph_budget_window_seconds=100, budget_pacing_from=0.0)
    key = token()  # C = 24, W = 101, pacing from the first call: spacing (W / C) x fill
    now, refused = T0, None
    for _ in range(30):
        refused = budget.acquire(key, "publish", now, scope_id=PAGE)
        if not refused.allowed:
            break
    assert refused is not None and not refused.allowed
    spacing = 101 / 24 * refused.in_window / 24
    assert refused.in_window > 1
    assert refused.reason == (f"publish calls are paced as the window fills (one every {spacing:.2f}s now); "
                              f"next at {_iso(refused.retry_at)}")
    # pacing is per Page: another Page's first call is not held back by this one's
    assert budget.acquire(key, "publish", now, scope_id=OTHER_PAGE).allowed

    shared = make_budget(graph_calls_per_hour=1, graph_budget_window_seconds=100, insights_budget_share=0.5)
    for _ in range(12):
        assert shared.acquire(key, "publish", T0, scope_id=PAGE).allowed
    share = shared.acquire(key, "insights", T0, scope_id=PAGE)
    assert share.reason == "insights may use 12 of 24 calls per window; the rest is kept for publishing"
    assert share.in_window == 12


def test_peek_reports_every_field_exactly(make_budget: MakeBudget):
    budget = make_budget(graph_calls_per_hour=1, graph_budget_window_seconds=100, budget_pacing_from=0.0,
                         insights_budget_share=0.5)
    key = token()  # no Page: the token's own window
    assert budget.peek(key, now=T0) == {"capacity": 24, "window_seconds": 101.0, "calls_in_window": 0,
                                        "tokens": 24, "insights_tokens": 12, "paced_ahead_seconds": 0.0,
                                        "paused_until": {}}
    assert budget.acquire(key, "publish", T0).allowed  # the first call: spacing 0, the TAT stays at T0
    assert budget.peek(key, now=T0)["paced_ahead_seconds"] == 0.0
    while budget.acquire(key, "publish", T0).allowed:  # until pacing holds the next call back
        pass
    tat = float(budget.redis.hget(budget._pace_key(token_scope(key)), "tat"))
    assert tat > T0 and budget.peek(key, now=T0)["paced_ahead_seconds"] == pytest.approx(tat - T0, abs=1e-5)
    calls = greedy(budget, key, T0, T0 + 100.9)
    state = budget.peek(key, now=T0 + 100.9)
    assert (state["calls_in_window"], state["tokens"], state["insights_tokens"]) == (24, 0, 0)  # full
    refused = budget.acquire(key, "publish", T0 + 100.9)
    assert refused.in_window == 24 and calls
    budget.pause(token_scope(key), T0 + 200, "x", now=T0)
    assert budget.peek(key, now=T0 + 199)["paused_until"] == {token_scope(key): T0 + 200}
    assert budget.peek(key, now=T0 + 200)["paused_until"] == {}
    assert budget.peek(key)["paused_until"] == {token_scope(key): T0 + 200}  # the clock (before T0)
    assert budget.peek_many([(key, None), (key, PAGE)], now=T0 + 100.9) == [
        {"capacity": 24, "calls_in_window": 24, "paused_until": {token_scope(key): T0 + 200}},
        {"capacity": 24, "calls_in_window": 0, "paused_until": {token_scope(key): T0 + 200}}]
    assert budget.peek_many([(key, None)], now=T0 + 200)[0]["paused_until"] == {}
    assert budget.peek_many([(key, None)])[0]["calls_in_window"] == 24  # the clock: all still ahead


def test_pauses_in_force_ends_at_the_instant_reads_the_clock_and_keeps_an_empty_reason(make_budget: MakeBudget):
    budget = make_budget()
    start = time.time()
    ends = budget.pause(page_scope(PAGE), start + 50, "")  # the clock when no time is given
    assert ends == pytest.approx(start + 50, abs=1e-5)
    assert budget.pauses_in_force([page_scope(PAGE)], now=ends - 1) == {
        page_scope(PAGE): {"until": ends, "reason": ""}}
    assert budget.pauses_in_force([page_scope(PAGE)], now=ends) == {}
    assert list(budget.pauses_in_force([page_scope(PAGE), "app"])) == [page_scope(PAGE)]


# ----------------------------------------------------------------------------- Reels


def test_a_reel_slot_answer_is_exact(make_budget: MakeBudget):
    budget = make_budget(reels_per_window=2, graph_budget_window_seconds=100)  # W = 101
    assert budget.reserve_reel(PAGE, now=T0) == Decision(True, T0, in_window=1)
    assert budget.reserve_reel(OTHER_PAGE, now=T0) == Decision(True, T0, in_window=1)
    second = budget.reserve_reel(PAGE, now=T0 + 10)
    assert (second.allowed, second.retry_at, second.in_window) == (True, T0 + 10, 2)
    refused = budget.reserve_reel(PAGE, now=T0 + 20)
    assert (refused.allowed, refused.retry_at, refused.in_window) == (False, T0 + 101, 2)
    assert refused.reason == ("the Page has published 2 Reels through the API in the last 0.0280556 h "
                              f"(Meta's limit); the next slot opens at {_iso(T0 + 101)}")
    assert budget.reels_in_window(PAGE, now=T0 + 20) == 2
    assert budget.reels_in_window(PAGE, now=T0 + 500) == 0
    assert budget.reels_in_window(PAGE) == 2  # the clock: before T0, both still ahead
    now_slot = budget.reserve_reel("third-page")
    assert now_slot.allowed and now_slot.in_window == 1
