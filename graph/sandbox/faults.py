"""Fault injection: the knobs that make the sandbox fail the way Graph fails.

Rules match calls by method, route kind and Page, fire at a rate from a seeded RNG (so a failing
run can be replayed), in bursts and up to a count, and either refuse the call with an error or let
the write happen and then fail it (``apply_then_fail``), drop the connection or hold the response
(``timeout``). The router applies the post-write modes; :meth:`SandboxState.begin_call` the rest.
Latency, the timeout length and video processing time are knobs here too, and so are the sizes
above which Graph answers code 1 "Please reduce the amount of data you're asking for" (HTTP 500):
``reduce_data_above`` (items per page of a post listing) and ``insights_reduce_data_above``
(values in one insights answer: metrics x days), as Meta does for heavy requests.
"""

from __future__ import annotations

import random
from dataclasses import asdict
from typing import Any, Iterable, Mapping

from graph.sandbox.errors import SandboxError
from graph.sandbox.limits import RATE_LIMIT_MESSAGES, ThrottleBurst
from graph.sandbox.params import parse_limit
from graph.sandbox.records import FaultRule
from graph.sandbox.store import PageStore, locked


REDUCE_DATA_MESSAGE = "Please reduce the amount of data you're asking for, then retry your request"
_KEEP: Any = object()


def reduce_data_error() -> SandboxError:
    """Meta's answer to a request too heavy to serve (field evidence: HTTP 500, code 1, this message)."""
    return SandboxError(1, REDUCE_DATA_MESSAGE, http_status=500, is_transient=False)


class FaultInjection(PageStore):
    """The fault rules and knobs, and the per-call decision whether a rule fires."""

    reduce_data_above: int | None = None
    insights_reduce_data_above: int | None = None
    latency_ms: float
    fault_timeout_seconds: float
    video_processing_seconds: float
    _rules: list[FaultRule]
    _rng: random.Random
    _bursts: list[ThrottleBurst]  # kept by BudgetLimits; listed here because the admin API shows them

    @locked
    def set_faults(
        self,
        rules: Iterable[Mapping[str, Any] | FaultRule] | None = None,
        latency_ms: float | None = None,
        fault_timeout_seconds: float | None = None,
        video_processing_seconds: float | None = None,
        reduce_data_above: int | None = _KEEP,
        insights_reduce_data_above: int | None = _KEEP,
    ) -> dict[str, Any]:
        """Replace the fault rules (when given) and knobs; the RNG restarts from the seed.

        The two size knobs are kept unless given (``None`` turns one off)."""
        if rules is not None:
            self._rules = [rule if isinstance(rule, FaultRule) else FaultRule.from_dict(rule) for rule in rules]
            self._rng = random.Random(self.seed)
        if latency_ms is not None:
            self.latency_ms = float(latency_ms)
        if fault_timeout_seconds is not None:
            self.fault_timeout_seconds = float(fault_timeout_seconds)
        if video_processing_seconds is not None:
            self.video_processing_seconds = float(video_processing_seconds)
        if reduce_data_above is not _KEEP:
            self.reduce_data_above = None if reduce_data_above is None else int(reduce_data_above)
        if insights_reduce_data_above is not _KEEP:
            self.insights_reduce_data_above = (None if insights_reduce_data_above is None
                                               else int(insights_reduce_data_above))
        return self.faults()

    @locked
    def faults(self) -> dict[str, Any]:
        return {
            "rules": [rule.to_dict() for rule in self._rules],
            "latency_ms": self.latency_ms,
            "fault_timeout_seconds": self.fault_timeout_seconds,
            "video_processing_seconds": self.video_processing_seconds,
            "reduce_data_above": self.reduce_data_above,
            "insights_reduce_data_above": self.insights_reduce_data_above,
            "throttle_bursts": [asdict(burst) for burst in self._bursts if burst.remaining > 0],
        }

    def _decide_fault(self, method: str, kind: str, page_id: str | None) -> FaultRule | None:
        for rule in self._rules:
            if not rule.matches(method, kind, page_id):
                continue
            if rule.count is not None and rule.fired >= rule.count:
                continue
            if rule.passed < int(rule.after or 0):
                rule.passed += 1
                continue
            if rule.burst_left > 0:
                rule.burst_left -= 1
            elif self._rng.random() < float(rule.rate):
                rule.burst_left = max(0, int(rule.burst or 1) - 1)
            else:
                continue
            rule.fired += 1
            self._stats["faults_fired"][rule.mode] += 1
            return rule
        return None

    def check_page_size(self, params: Mapping[str, Any]) -> None:
        """Refuse a listing whose page (``limit``) is above ``reduce_data_above`` with Meta's code 1."""
        if self.reduce_data_above is not None and parse_limit(params) > self.reduce_data_above:
            raise reduce_data_error()

    @locked
    def release_fault(self, rule: FaultRule) -> None:
        """Un-count a post-apply fault whose call failed anyway (nothing was applied to fail after)."""
        rule.fired = max(0, rule.fired - 1)
        self._stats["faults_fired"][rule.mode] -= 1


def fault_message(code: int) -> str:
    """Graph's message for an injected error ``code``."""
    return {
        1: "An unknown error has occurred.",
        2: "An unexpected error has occurred. Please retry your request later.",
    }.get(code, RATE_LIMIT_MESSAGES.get(code, f"(#{code}) Sandbox fault"))
