"""What a task does after a failure, decided in one place from the error class (DESIGN.md rule 4).

Pure functions, no Celery: a task asks ``decide(error, attempt=…, now=…, deadline=…, settings=…)``
and acts on the answer. The actions:

* ``retry``     — run again after ``delay`` seconds (a broker countdown; always
                  <= ``settings.max_broker_countdown_seconds``).
* ``defer``     — the wait is longer than a countdown may be: store ``now + delay`` as a due time in the
                  database and let ``dispatch_due`` re-queue it. Redis redelivers unacknowledged ETA
                  tasks after its visibility timeout, so long countdowns duplicate work.
* ``reconcile`` — a write's outcome is unknown: list the Page's posts before sending again
                  (the Graph API has no idempotency key).
* ``reconnect`` — the token is dead: mark the integration ``needs_reconnect`` and fail the job with
                  ``reason`` (it tells the operator to reconnect the Page).
* ``fail``      — permanent: fail now with ``reason`` (Meta's message is kept). For a scheduled post
                  whose deadline cannot be met the caller may make a platform draft instead.

Rules:

* ``RateLimited`` (including the local ``BudgetExhausted``): wait until the scope reopens
  (``error.retry_at``, else ``RATE_LIMIT_RECHECK_SECONDS`` — the budget in Redis knows the real end
  of a pause and answers the re-check with it) plus a little jitter so waiting tasks do not all wake
  together. It does **not** spend an attempt: being throttled says nothing about the work. It is
  bounded by the work's own deadline instead: past it, ``fail``.
* ``Transient`` and any exception this module does not know: capped exponential backoff with full
  jitter (``uniform(0, min(cap, base * 2**attempt))``), spending an attempt; ``fail`` once
  ``settings.max_transient_retries`` are spent or the deadline has passed.
* ``Ambiguous``: ``reconcile`` after a short delay, spending an attempt (so an endpoint that never
  answers ends in ``fail``; a requeue reconciles first, because the intent is stored). The deadline
  does not apply: whether the post exists must be found out either way.
* ``AuthError``: ``reconnect``. ``PermissionDenied`` / ``InvalidRequest`` / ``NotFound``: ``fail``.
* ``PolicyBlocked`` (code 368 other than 1390008): Meta blocked the content under its policies, and
  waiting does not clear that. Only ``POLICY_BLOCK_ATTEMPTS`` attempts in all, spaced by
  ``POLICY_BLOCK_DELAYS`` (minutes, in case Meta's check was a passing false positive), then
  ``fail`` with Meta's message and the hint to change the content. 368/1390008 ("posting too
  fast") is a ``RateLimited`` and waits like any throttle.
* ``RequestTooLarge`` (code 1 "reduce the amount of data") reaching here means the caller could not
  ask for less (it halves its page down to a floor first): ``fail``, since the same request fails
  the same way.

``attempt`` is how many attempts the work has already spent (0 on the first failure). Errors the
caller already knows to be permanent (``tasks.domain.errors.BadMessage``) are failed by the caller without
asking, since this module treats unknown exceptions as transient.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Literal

from graph.errors import (
    Ambiguous,
    AuthError,
    BudgetExhausted,
    GraphError,
    InvalidRequest,
    PermissionDenied,
    PolicyBlocked,
    RateLimited,
    RequestTooLarge,
    Transient,
)
from worker.core.redaction import redact_text
from worker.core.settings import Settings

Action = Literal["retry", "defer", "reconcile", "fail", "reconnect"]

BACKOFF_BASE_SECONDS = 2.0
BACKOFF_CAP_SECONDS = 120.0
RATE_LIMIT_RECHECK_SECONDS = 60.0  # no retry_at: ask the budget again then (it knows the pause's end)
RATE_LIMIT_JITTER_FRACTION = 0.1  # of the wait, plus RATE_LIMIT_JITTER_FLOOR, at most ..._CAP
RATE_LIMIT_JITTER_FLOOR = 0.5
RATE_LIMIT_JITTER_CAP = 30.0
RECONCILE_DELAY_SECONDS = 5.0  # let a slow Graph write land before listing the Page's posts
POLICY_BLOCK_ATTEMPTS = 3  # in all: the first try and two spaced retries
POLICY_BLOCK_DELAYS = (120.0, 600.0)  # before the 2nd and 3rd attempt


@dataclass(frozen=True)
class RetryDecision:
    """What to do next; ``delay`` is seconds from ``now``; ``spends_attempt`` counts against the retry limit."""

    action: Action
    delay: float
    reason: str
    spends_attempt: bool


def broker_countdown(delay: float, settings: Settings) -> float | None:
    """``delay`` when it may be a broker countdown, else None (store a due time in the DB instead)."""
    delay = max(0.0, float(delay))
    return delay if delay <= settings.max_broker_countdown_seconds else None


def backoff_ceiling(attempt: int) -> float:
    """The upper bound of the jittered backoff for ``attempt``: ``min(cap, base * 2**attempt)``."""
    return min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** min(max(attempt, 0), 32))


def describe(error: BaseException) -> str:
    """The error as a one-line reason, Graph's message and hint kept, secrets masked."""
    text = str(error) if isinstance(error, GraphError) else f"{type(error).__name__}: {error}"
    return redact_text(text)


def _wait(action: Literal["retry", "defer", "reconcile"], delay: float, reason: str, spends: bool,
          settings: Settings) -> RetryDecision:
    """A retry when the delay fits a broker countdown, else a deferral to a due time."""
    if action == "retry" and broker_countdown(delay, settings) is None:
        action = "defer"
    return RetryDecision(action, delay, reason, spends)


def _deadline_passed(deadline: float | None, at: float) -> bool:
    return deadline is not None and at > deadline


def decide(error: BaseException, *, attempt: int, now: float, deadline: float | None,
           settings: Settings, rng: random.Random | None = None) -> RetryDecision:
    """The next step after ``error``; ``deadline`` (epoch s, or None) is the last useful start time."""
    rng = rng or random.Random()
    reason = describe(error)

    if isinstance(error, RateLimited):
        return _rate_limited(error, now=now, deadline=deadline, settings=settings, rng=rng, reason=reason)
    if isinstance(error, AuthError):
        return RetryDecision("reconnect", 0.0, reason, False)
    if isinstance(error, (PermissionDenied, InvalidRequest)):  # NotFound is an InvalidRequest
        return RetryDecision("fail", 0.0, reason, False)
    if isinstance(error, PolicyBlocked):
        if attempt + 1 >= POLICY_BLOCK_ATTEMPTS:
            return RetryDecision("fail", 0.0, f"blocked by Meta {attempt + 1} times: {reason}", False)
        delay = POLICY_BLOCK_DELAYS[min(attempt, len(POLICY_BLOCK_DELAYS) - 1)]
        if _deadline_passed(deadline, now + delay):
            return RetryDecision("fail", 0.0, f"blocked by Meta, and no time left to try again: {reason}", False)
        return _wait("retry", delay, f"blocked by Meta, trying again in {delay / 60:g} min: {reason}", True,
                     settings)
    if isinstance(error, RequestTooLarge):
        return RetryDecision("fail", 0.0, f"cannot ask Graph for less: {reason}", False)
    if isinstance(error, Ambiguous):
        if attempt >= settings.max_transient_retries:
            return RetryDecision("fail", 0.0, f"outcome still unknown after {attempt} attempts "
                                 f"(a requeue reconciles first): {reason}", False)
        return _wait("reconcile", RECONCILE_DELAY_SECONDS, reason, True, settings)

    # Transient, and anything unexpected (a database hiccup, Redis): bounded backoff.
    kind = "" if isinstance(error, Transient) else "unexpected error, retried as transient: "
    if attempt >= settings.max_transient_retries:
        return RetryDecision("fail", 0.0, f"gave up after {attempt} retries: {kind}{reason}", False)
    delay = rng.uniform(0.0, backoff_ceiling(attempt))
    if deadline is not None:
        if now >= deadline:
            return RetryDecision("fail", 0.0, f"deadline passed, cannot retry in time: {kind}{reason}", False)
        delay = min(delay, deadline - now)
    return _wait("retry", delay, f"{kind}{reason}", True, settings)


def _rate_limited(error: RateLimited, *, now: float, deadline: float | None, settings: Settings,
                  rng: random.Random, reason: str) -> RetryDecision:
    reopens = now + RATE_LIMIT_RECHECK_SECONDS
    if error.retry_at is not None and error.retry_at > now:
        reopens = error.retry_at
    elif isinstance(error, BudgetExhausted) and error.retry_at is not None:
        reopens = now  # our own budget's time, already reached while the task got here: room now
    if _deadline_passed(deadline, reopens):
        return RetryDecision("fail", 0.0, f"deadline cannot be met: rate limited until after it ({reason})", False)
    wait = reopens - now
    spread = min(RATE_LIMIT_JITTER_CAP, wait * RATE_LIMIT_JITTER_FRACTION + RATE_LIMIT_JITTER_FLOOR)
    delay = wait + rng.uniform(0.0, spread)
    if deadline is not None:
        delay = max(wait, min(delay, deadline - now))  # never jitter past the deadline
    return _wait("retry", delay, reason, False, settings)
