"""The retry policy, table by table: every error class, deadlines, defer vs countdown, backoff and jitter."""

from __future__ import annotations

import random

import pytest
import redis

from graph.errors import (
    Ambiguous,
    AuthError,
    BudgetExhausted,
    InvalidRequest,
    NotFound,
    PermissionDenied,
    PolicyBlocked,
    RateLimited,
    RequestTooLarge,
    Transient,
)
from tasks.domain.retry_policy import (
    BACKOFF_CAP_SECONDS,
    RATE_LIMIT_JITTER_CAP,
    RATE_LIMIT_RECHECK_SECONDS,
    POLICY_BLOCK_ATTEMPTS,
    POLICY_BLOCK_DELAYS,
    RECONCILE_DELAY_SECONDS,
    RetryDecision,
    backoff_ceiling,
    broker_countdown,
    decide,
)
from worker.core.settings import Settings

NOW = 1_900_000_000.0
SETTINGS = Settings().with_overrides(max_transient_retries=5, max_broker_countdown_seconds=240)


class Highest(random.Random):
    """Jitter at its upper bound, to check the caps exactly."""

    def uniform(self, a: float, b: float) -> float:
        return b


class Lowest(random.Random):
    def uniform(self, a: float, b: float) -> float:
        return a


def run(error: BaseException, *, attempt: int = 0, deadline: float | None = None, settings: Settings = SETTINGS,
        rng: random.Random | None = None) -> RetryDecision:
    return decide(error, attempt=attempt, now=NOW, deadline=deadline, settings=settings, rng=rng)


def samples(error: BaseException, n: int = 300, **kwargs: object) -> list[RetryDecision]:
    rng = random.Random(1234)
    return [run(error, rng=rng, **kwargs) for _ in range(n)]  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- rate limits


@pytest.mark.parametrize("error", [
    RateLimited("(#80001) too many calls", code=80001, retry_at=NOW + 30),
    RateLimited("(#4) app limit", code=4, retry_at=NOW + 30),
    BudgetExhausted(retry_at=NOW + 30),
])
@pytest.mark.parametrize("attempt", [0, 5, 99])
def test_rate_limits_retry_when_the_scope_reopens_without_spending_an_attempt(error, attempt):
    for decision in samples(error, attempt=attempt):
        assert decision.action == "retry"
        assert decision.spends_attempt is False
        assert 30 <= decision.delay <= 30 + 30 * 0.1 + 0.5  # never before it reopens; a little jitter


def test_rate_limit_jitter_spreads_waiting_tasks():
    delays = {round(d.delay, 3) for d in samples(BudgetExhausted(retry_at=NOW + 100))}
    assert len(delays) > 100


@pytest.mark.parametrize("retry_at", [None, NOW - 5, NOW])
def test_rate_limit_without_a_future_time_rechecks_after_the_default(retry_at):
    decision = run(RateLimited("limit", code=17, retry_at=retry_at), rng=Lowest())
    assert decision.action == "retry"
    assert decision.delay == RATE_LIMIT_RECHECK_SECONDS
    assert decision.spends_attempt is False


def test_rate_limit_jitter_is_capped():
    decision = run(RateLimited("too fast", code=368, subcode=1390008, retry_at=NOW + 3600), rng=Highest())
    assert decision.delay == 3600 + RATE_LIMIT_JITTER_CAP


@pytest.mark.parametrize(("wait", "action"), [(1, "retry"), (239, "retry"), (241, "defer"), (3600, "defer")])
def test_long_waits_are_deferred_to_the_database_not_the_broker(wait, action):
    decision = run(RateLimited("limit", code=32, retry_at=NOW + wait), rng=Lowest())
    assert (decision.action, decision.delay) == (action, wait)
    assert decision.spends_attempt is False


def test_jitter_can_push_a_wait_into_a_deferral():
    assert run(BudgetExhausted(retry_at=NOW + 239.9), rng=Highest()).action == "defer"


def test_rate_limit_past_the_deadline_fails_with_that_reason():
    decision = run(RateLimited("(#32) Page request limit", code=32, retry_at=NOW + 600), deadline=NOW + 599)
    assert decision.action == "fail"
    assert "deadline cannot be met" in decision.reason
    assert "Page request limit" in decision.reason
    assert decision.spends_attempt is False


def test_rate_limit_jitter_never_crosses_the_deadline():
    deadline = NOW + 100.2
    for decision in samples(BudgetExhausted(retry_at=NOW + 100), deadline=deadline):
        assert decision.action == "retry"
        assert NOW + 100 <= NOW + decision.delay <= deadline


def test_rate_limit_reopening_exactly_at_the_deadline_still_retries():
    decision = run(BudgetExhausted(retry_at=NOW + 50), deadline=NOW + 50, rng=Highest())
    assert (decision.action, decision.delay) == ("retry", 50)


# ----------------------------------------------------------------------------- transient errors


@pytest.mark.parametrize(("attempt", "ceiling"), [(0, 2), (1, 4), (2, 8), (3, 16), (5, 64), (6, 120), (40, 120),
                                                  (10_000, 120)])
def test_backoff_is_exponential_and_capped(attempt, ceiling):
    assert backoff_ceiling(attempt) == ceiling
    settings = SETTINGS.with_overrides(max_transient_retries=100_000)
    assert run(Transient("boom", code=2), attempt=attempt, settings=settings, rng=Highest()).delay == ceiling
    assert run(Transient("boom", code=2), attempt=attempt, settings=settings, rng=Lowest()).delay == 0


@pytest.mark.parametrize("attempt", [0, 1, 2, 3, 4])
def test_transient_errors_retry_with_full_jitter_and_spend_an_attempt(attempt):
    decisions = samples(Transient("(#2) Service temporarily unavailable", code=2), attempt=attempt)
    ceiling = min(BACKOFF_CAP_SECONDS, 2.0 * 2 ** attempt)
    assert all(d.action == "retry" and d.spends_attempt for d in decisions)
    delays = [d.delay for d in decisions]
    assert all(0 <= delay <= ceiling for delay in delays)
    assert min(delays) < ceiling * 0.2 and max(delays) > ceiling * 0.8  # spread over the whole range
    assert "Service temporarily unavailable" in decisions[0].reason


def test_transient_errors_fail_once_the_retries_are_spent():
    decision = run(Transient("(#1) unknown error", code=1), attempt=5)
    assert decision.action == "fail"
    assert "gave up after 5 retries" in decision.reason and "unknown error" in decision.reason
    assert run(Transient("x"), attempt=4).action == "retry"
    assert run(Transient("x"), attempt=0, settings=SETTINGS.with_overrides(max_transient_retries=0)).action == "fail"


def test_transient_retries_respect_the_deadline():
    assert run(Transient("x"), deadline=NOW).action == "fail"
    assert "deadline passed" in run(Transient("x"), deadline=NOW - 1).reason
    for decision in samples(Transient("x"), attempt=4, deadline=NOW + 3):
        assert decision.action == "retry" and NOW + decision.delay <= NOW + 3


def test_transient_backoff_longer_than_a_countdown_is_deferred():
    settings = SETTINGS.with_overrides(max_broker_countdown_seconds=10)
    decision = run(Transient("x"), attempt=4, settings=settings, rng=Highest())
    assert (decision.action, decision.delay, decision.spends_attempt) == ("defer", 32, True)


@pytest.mark.parametrize("error", [RuntimeError("database restarting"), redis.ConnectionError("refused"),
                                   OSError("reset")])
def test_unexpected_errors_are_bounded_transients(error):
    decision = run(error, attempt=2, rng=Highest())
    assert (decision.action, decision.delay, decision.spends_attempt) == ("retry", 8, True)
    assert "unexpected error" in decision.reason and type(error).__name__ in decision.reason
    assert run(error, attempt=5).action == "fail"


def test_reasons_never_carry_a_token():
    decision = run(RuntimeError("GET https://x/?access_token=EAABsecretsecretsecretsecret failed"))
    assert "EAABsecret" not in decision.reason


# ----------------------------------------------------------------------------- ambiguous, auth, permanent


@pytest.mark.parametrize("deadline", [None, NOW + 3600, NOW - 60])
def test_ambiguous_writes_go_to_reconciliation(deadline):
    decision = run(Ambiguous("read timed out"), attempt=1, deadline=deadline)
    assert decision.action == "reconcile"  # even past the deadline: the post may already exist
    assert decision.delay == RECONCILE_DELAY_SECONDS
    assert decision.spends_attempt is True


def test_ambiguous_writes_stop_after_the_retries_are_spent():
    decision = run(Ambiguous("read timed out"), attempt=5)
    assert decision.action == "fail"
    assert "outcome still unknown" in decision.reason and "reconciles first" in decision.reason


@pytest.mark.parametrize("attempt", [0, 3, 50])
def test_auth_errors_ask_for_a_reconnect_at_once(attempt):
    decision = run(AuthError("Error validating access token: Session has expired", code=190, subcode=463),
                   attempt=attempt)
    assert decision.action == "reconnect"
    assert decision.delay == 0 and decision.spends_attempt is False
    assert "Session has expired" in decision.reason and "reconnect" in decision.reason


@pytest.mark.parametrize("error", [
    PermissionDenied("(#200) Requires pages_manage_posts permission", code=200),
    InvalidRequest("(#100) Invalid parameter", code=100),
    InvalidRequest("(#506) Duplicate status message", code=506),
    NotFound("Unsupported get request. Object does not exist", code=100, subcode=33),
])
@pytest.mark.parametrize("deadline", [None, NOW + 3600])
def test_permanent_errors_fail_at_once_keeping_metas_message(error, deadline):
    decision = run(error, deadline=deadline)
    assert decision.action == "fail"
    assert decision.delay == 0 and decision.spends_attempt is False
    assert error.graph_message in decision.reason


# ----------------------------------------------------------------------------- broker countdown


@pytest.mark.parametrize(("delay", "expected"), [(0, 0), (-3, 0), (12.5, 12.5), (240, 240), (240.01, None),
                                                 (86400, None)])
def test_broker_countdown(delay, expected):
    assert broker_countdown(delay, SETTINGS) == expected


def test_budget_refusal_whose_time_has_come_retries_at_once_not_after_the_default():
    from graph.errors import BudgetExhausted
    from tasks.domain.retry_policy import decide
    from worker.core.settings import Settings

    decision = decide(BudgetExhausted(retry_at=999.5), attempt=0, now=1000.0, deadline=None, settings=Settings())
    assert decision.action == "retry" and decision.delay < 1.0 and not decision.spends_attempt


# ----------------------------------------------------------------------------- 368 policy blocks, code 1


def test_policy_block_is_tried_a_few_times_minutes_apart_then_fails_with_meta_message():
    error = PolicyBlocked("(#368) The action attempted has been deemed abusive", code=368, subcode=1346003)
    decisions = [run(error, attempt=attempt) for attempt in range(POLICY_BLOCK_ATTEMPTS)]
    assert POLICY_BLOCK_ATTEMPTS == 3
    assert [d.action for d in decisions] == ["retry", "defer", "fail"]  # 2 min fits a countdown, 10 min does not
    assert [d.delay for d in decisions[:-1]] == list(POLICY_BLOCK_DELAYS) and min(POLICY_BLOCK_DELAYS) >= 60
    assert all(d.spends_attempt for d in decisions[:-1])
    assert "deemed abusive" in decisions[-1].reason and "approval UI" in decisions[-1].reason
    assert "blocked by Meta 3 times" in decisions[-1].reason


def test_policy_block_is_not_waited_out_like_a_rate_limit():
    error = PolicyBlocked("blocked", code=368)
    assert run(error, attempt=POLICY_BLOCK_ATTEMPTS + 4).action == "fail"
    assert run(error, attempt=0, deadline=NOW + 30).action == "fail"  # no time left for a spaced retry


def test_posting_too_fast_still_waits_without_spending_attempts():
    decision = run(RateLimited("too fast", code=368, subcode=1390008, retry_at=NOW + 3600), attempt=50)
    assert decision.action == "defer" and decision.delay >= 3600 and not decision.spends_attempt


def test_request_too_large_that_reaches_the_policy_fails_instead_of_repeating():
    decision = run(RequestTooLarge("Please reduce the amount of data you're asking for", code=1))
    assert decision.action == "fail" and "cannot ask Graph for less" in decision.reason
