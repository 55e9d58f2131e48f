"""Meta's usage headers, parsed once per response so the budget can pause before Meta throttles.

Meta reports how close a caller is to its limits in three headers, each JSON:

* ``X-App-Usage`` and ``X-Page-Usage``: ``{"call_count", "total_time", "total_cputime"}``,
  percentages of the limit (they can exceed 100);
* ``X-Business-Use-Case-Usage``: ``{"<object-id>": [{"type", "call_count", "total_cputime",
  "total_time", "estimated_time_to_regain_access"}]}``, the last in **minutes**.

A header appears only once usage is non-trivial, so a missing (or garbled) header means *unknown*,
never zero: parsing never raises, because a bad header must not turn a successful publish into an
error.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any, Mapping

PERCENT_FIELDS = ("call_count", "total_time", "total_cputime")
APP_HEADER = "x-app-usage"
PAGE_HEADER = "x-page-usage"
BUSINESS_HEADER = "x-business-use-case-usage"


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def _load(raw: str | None) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except (TypeError, ValueError):
        return None


def _as_object(raw: str | None) -> dict[str, Any] | None:
    value = _load(raw)
    return value if isinstance(value, dict) else None


def _as_business(raw: str | None) -> dict[str, list[dict[str, Any]]]:
    value = _load(raw)
    if not isinstance(value, dict):
        return {}
    business: dict[str, list[dict[str, Any]]] = {}
    for object_id, entries in value.items():
        if isinstance(entries, dict):  # tolerate a single entry sent without its list
            entries = [entries]
        if isinstance(entries, list):
            kept = [entry for entry in entries if isinstance(entry, dict)]
            if kept:
                business[str(object_id)] = kept
    return business


@dataclass(frozen=True)
class Usage:
    """What one response said about usage; ``None`` / empty means the header was absent."""

    app: dict[str, Any] | None = None
    page: dict[str, Any] | None = None
    business: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    @classmethod
    def from_headers(cls, headers: Mapping[str, str] | None) -> "Usage":
        """Parse the three headers (any capitalisation); never raises."""
        if not headers:
            return cls()
        lowered = {str(key).lower(): value for key, value in headers.items()}
        return cls(
            app=_as_object(lowered.get(APP_HEADER)),
            page=_as_object(lowered.get(PAGE_HEADER)),
            business=_as_business(lowered.get(BUSINESS_HEADER)),
        )

    @property
    def is_empty(self) -> bool:
        """True when the response carried no usable usage header at all."""
        return self.app is None and self.page is None and not self.business

    def _entries(self) -> list[Mapping[str, Any]]:
        entries: list[Mapping[str, Any]] = [part for part in (self.app, self.page) if part is not None]
        for items in self.business.values():
            entries.extend(items)
        return entries

    def max_percent(self) -> float | None:
        """The highest known percentage of any limit; ``None`` when nothing is known."""
        values = [
            number
            for entry in self._entries()
            for name in PERCENT_FIELDS
            if (number := _number(entry.get(name))) is not None
        ]
        return max(values) if values else None

    def regain_seconds(self) -> float | None:
        """Seconds until Meta expects access back (longest across BUC entries), ``None`` if unknown."""
        minutes = [
            number
            for items in self.business.values()
            for entry in items
            if (number := _number(entry.get("estimated_time_to_regain_access"))) is not None
        ]
        return max(minutes) * 60.0 if minutes else None
