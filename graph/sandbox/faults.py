"""Fault injection: the knobs that make the sandbox fail the way Graph fails.

Rules match calls by method, route kind and Page, fire at a rate from a seeded RNG (so a failing
run can be replayed), in bursts and up to a count, and either refuse the call with an error or let
the write happen and then fail it (``apply_then_fail``), drop the connection or hold the response
(``timeout``). The router applies the post-write modes; :meth:`SandboxState.begin_call` the rest.
Latency, the timeout length and video processing time are knobs here too.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass
from typing import Any, Iterable, Mapping

from graph.sandbox.limits import RATE_LIMIT_MESSAGES, ThrottleBurst
from graph.sandbox.store import PageStore, locked

FAULT_MODES = ("error", "apply_then_fail", "drop", "timeout")


@dataclass
class FaultRule:
    """One fault: which calls it matches, how often it fires and what it does.

    ``path`` is a route kind (``feed``, ``photos``, ``videos``, ``video_reels``, ``rupload``,
    ``post``, ``photo``, ``video``, ``page``, ``insights``, ``post_insights``, ``scheduled_posts``,
    ``published_posts``, ``posts``, ``accounts``, ...), several joined by ``|``, or ``*``/None.
    ``burst``: once the rule fires, the next ``burst - 1`` matching calls fire too.
    ``count``: the most times it fires in all (None = unlimited).
    """

    method: str | None = None
    path: str | None = None
    rate: float = 1.0
    mode: str = "error"
    code: int = 1
    http_status: int | None = None
    count: int | None = None
    burst: int | None = None
    subcode: int | None = None
    message: str | None = None
    page_id: str | None = None
    seconds: float | None = None  # timeout mode: how long to hold the response
    fired: int = 0
    burst_left: int = 0

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> "FaultRule":
        known = {name for name in cls.__dataclass_fields__ if name not in ("fired", "burst_left")}
        unknown = set(raw) - known
        if unknown:
            raise ValueError(f"unknown fault rule keys: {sorted(unknown)}")
        rule = cls(**{key: raw[key] for key in raw})
        if rule.mode not in FAULT_MODES:
            raise ValueError(f"fault mode must be one of {FAULT_MODES}, got {rule.mode!r}")
        if not 0.0 <= float(rule.rate) <= 1.0:
            raise ValueError("fault rate must be within 0..1")
        return rule

    def matches(self, method: str, kind: str, page_id: str | None) -> bool:
        if self.method not in (None, "", "*") and self.method.upper() != method.upper():
            return False
        if self.path not in (None, "", "*") and kind not in self.path.split("|"):
            return False
        return self.page_id in (None, "") or self.page_id == page_id

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class FaultInjection(PageStore):
    """The fault rules and knobs, and the per-call decision whether a rule fires."""

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
    ) -> dict[str, Any]:
        """Replace the fault rules (when given) and knobs; the RNG restarts from the seed."""
        if rules is not None:
            self._rules = [rule if isinstance(rule, FaultRule) else FaultRule.from_dict(rule) for rule in rules]
            self._rng = random.Random(self.seed)
        if latency_ms is not None:
            self.latency_ms = float(latency_ms)
        if fault_timeout_seconds is not None:
            self.fault_timeout_seconds = float(fault_timeout_seconds)
        if video_processing_seconds is not None:
            self.video_processing_seconds = float(video_processing_seconds)
        return self.faults()

    @locked
    def faults(self) -> dict[str, Any]:
        return {
            "rules": [rule.to_dict() for rule in self._rules],
            "latency_ms": self.latency_ms,
            "fault_timeout_seconds": self.fault_timeout_seconds,
            "video_processing_seconds": self.video_processing_seconds,
            "throttle_bursts": [asdict(burst) for burst in self._bursts if burst.remaining > 0],
        }

    def _decide_fault(self, method: str, kind: str, page_id: str | None) -> FaultRule | None:
        for rule in self._rules:
            if not rule.matches(method, kind, page_id):
                continue
            if rule.count is not None and rule.fired >= rule.count:
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
