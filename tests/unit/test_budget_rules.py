"""The budget's Python side, exactly: the client hooks hand the right token, purpose and error to the
budget and fail closed, refusal texts, pause boundaries, argument errors. Written against the mutants a
mutation run of graph/budget.py left alive (bench/mutation.py), before issue 12 made the budget per Page
over 24 h; the tests of that run's numbers (shape, peek, usage pauses) were dropped at the merge and
rewritten for the per-Page budget in test_budget_sizing.py."""

from __future__ import annotations

import pytest

from graph.budget import BudgetHooks, Decision, page_scope, token_scope
from graph.client import CallInfo
from graph.errors import BudgetExhausted, RateLimited
from graph.usage import Usage
from tests.unit.test_budget import PAGE, T0, MakeBudget, make_budget, token  # noqa: F401 - fixture

pytestmark = pytest.mark.redis


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
    acquire, observe = budget.calls
    assert acquire == ("acquire", ("tok-1", purpose), {"scope_id": PAGE})
    assert observe[:2] == ("observe", ("tok-1", PAGE, usage, error)) and observe[2]["path"] == f"/{PAGE}/feed"


def test_a_refusal_says_why_and_when_and_an_unknown_purpose_is_refused():
    hooks = BudgetHooks(_Recorder(Decision(False, T0 + 5, "token paused")), "publish")  # type: ignore[arg-type]
    with pytest.raises(BudgetExhausted) as refused:
        hooks.before_call(CallInfo("GET", "/me", False, "tok-1"))
    assert "call budget: token paused" in str(refused.value) and refused.value.retry_at == T0 + 5
    with pytest.raises(ValueError) as bad:
        BudgetHooks(_Recorder(Decision(True, T0)), "reports")  # type: ignore[arg-type]
    assert str(bad.value) == "purpose must be one of ('publish', 'insights'), got 'reports'"


# ----------------------------------------------------------------------------- the numbers operators read


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


@pytest.mark.parametrize(("reason", "said"), [("", ""), ("a|b", " (a|b)")])
def test_a_pause_reason_is_said_only_when_there_is_one_and_may_hold_a_bar(make_budget: MakeBudget, reason, said):
    budget = make_budget()
    budget.pause(page_scope(PAGE), T0 + 100, reason, now=T0)
    assert budget.acquire(token(), "publish", T0 + 1, scope_id=PAGE).reason == (
        f"page:{PAGE} paused until 2030-03-17T17:48:20Z{said}")
