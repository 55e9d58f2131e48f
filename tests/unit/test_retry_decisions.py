"""The retry policy's whole answer on every path (action, delay, reason, attempt spent), not only its
action: a failure must say why and must not look like a wait. Written against the mutants a mutation run
of tasks/domain/retry_policy.py left alive (bench/mutation.py)."""

from __future__ import annotations

import pytest

from graph.errors import Ambiguous, BudgetExhausted, PolicyBlocked, RateLimited, RequestTooLarge, Transient
from tasks.domain.retry_policy import RECONCILE_DELAY_SECONDS, RetryDecision, describe
from tests.unit.test_retry_policy import NOW, SETTINGS, Highest, Lowest, run


def test_describe_keeps_graphs_own_text_and_names_any_other_error():
    graph = Transient("(#2) Service temporarily unavailable", code=2)
    assert describe(graph) == str(graph)
    assert describe(ValueError("boom")) == "ValueError: boom"


def test_a_rate_limit_past_the_deadline_is_a_plain_failure():
    error = RateLimited("(#32) Page request limit", code=32, retry_at=NOW + 600)
    assert run(error, deadline=NOW + 599) == RetryDecision(
        "fail", 0.0, f"deadline cannot be met: rate limited until after it ({describe(error)})", False)


def test_a_rate_limit_wait_keeps_metas_reason_and_its_jitter_is_a_tenth_plus_half_a_second():
    error = RateLimited("(#80001) too many calls", code=80001, retry_at=NOW + 30)
    assert run(error, rng=Highest()) == RetryDecision("retry", 30 + 3 + 0.5, describe(error), False)
    assert run(BudgetExhausted(retry_at=NOW + 30), rng=Lowest()).delay == 30


def test_a_policy_block_spends_its_attempts_then_fails_as_a_failure():
    error = PolicyBlocked("(#368) deemed abusive", code=368)
    reason = describe(error)
    assert run(error, attempt=0) == RetryDecision("retry", 120.0, f"blocked by Meta, trying again in 2 min: {reason}",
                                                  True)
    assert run(error, attempt=1) == RetryDecision("defer", 600.0, f"blocked by Meta, trying again in 10 min: {reason}",
                                                  True)
    assert run(error, attempt=2) == RetryDecision("fail", 0.0, f"blocked by Meta 3 times: {reason}", False)
    assert run(error, attempt=0, deadline=NOW + 30) == RetryDecision(
        "fail", 0.0, f"blocked by Meta, and no time left to try again: {reason}", False)


def test_a_request_too_large_fails_as_a_failure():
    error = RequestTooLarge("Please reduce the amount of data you're asking for", code=1)
    assert run(error) == RetryDecision("fail", 0.0, f"cannot ask Graph for less: {describe(error)}", False)


def test_an_unknown_outcome_is_reconciled_then_given_up_with_the_count():
    error = Ambiguous("read timed out")
    assert run(error, attempt=1) == RetryDecision("reconcile", RECONCILE_DELAY_SECONDS, describe(error), True)
    assert run(error, attempt=5) == RetryDecision(
        "fail", 0.0, f"outcome still unknown after 5 attempts (a requeue reconciles first): {describe(error)}", False)


def test_transient_failures_say_how_many_retries_were_spent_and_unexpected_ones_say_so():
    graph = Transient("(#1) unknown error", code=1)
    assert run(graph, attempt=5) == RetryDecision("fail", 0.0, f"gave up after 5 retries: {describe(graph)}", False)
    assert run(graph, attempt=1, rng=Highest()) == RetryDecision("retry", 4.0, describe(graph), True)
    other = RuntimeError("database restarting")
    assert run(other, attempt=5) == RetryDecision(
        "fail", 0.0, "gave up after 5 retries: unexpected error, retried as transient: RuntimeError: database restarting",
        False)
    assert run(other, attempt=1, rng=Highest()).reason == (
        "unexpected error, retried as transient: RuntimeError: database restarting")


@pytest.mark.parametrize("deadline", [NOW, NOW - 1])
def test_a_transient_failure_past_its_deadline_fails_as_a_failure(deadline):
    graph = Transient("x", code=2)
    assert run(graph, deadline=deadline) == RetryDecision(
        "fail", 0.0, f"deadline passed, cannot retry in time: {describe(graph)}", False)


