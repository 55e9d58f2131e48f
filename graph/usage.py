"""Meta's usage headers, parsed once per response so the budget can pause before Meta throttles.

Meta reports how close a caller is to its limits in three headers, each JSON
(developers.facebook.com/docs/graph-api/overview/rate-limiting):

* ``X-App-Usage``: ``{"call_count", "total_time", "total_cputime"}``, percentages of the app's
  Platform limit (a rolling **hour**);
* ``X-Page-Usage``: the same fields for a Page's limit (Page-level limits follow a rolling **24 h**
  window: developers.facebook.com/blog/post/2016/06/16/page-level-rate-limits/);
* ``X-Business-Use-Case-Usage``: ``{"<object-id>": [{"type", "call_count", "total_cputime",
  "total_time", "estimated_time_to_regain_access"}]}``, the last in **minutes**. ``type`` says which
  Business Use Case the entry is for; ``pages`` (calls with a Page token) counts over 24 h.

A header appears only once usage is non-trivial, so a missing (or garbled) header means *unknown*,
never zero: parsing never raises, because a bad header must not turn a successful publish into an
error. A percentage that is not a finite number in 0..100, or a negative regain estimate, is
logged once per response (``graph.usage_value_ignored``) and treated as unknown, as is an entry for
an object the caller did not ask about (``readings(scope_id)``): one garbled header can pause at
most the Page it came with, never every Page.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any, Mapping

from worker.core.logging import get_logger

log = get_logger(__name__)

PERCENT_FIELDS = ("call_count", "total_time", "total_cputime")
APP_HEADER = "x-app-usage"
PAGE_HEADER = "x-page-usage"
BUSINESS_HEADER = "x-business-use-case-usage"
PAGES_TYPE = "pages"  # the BUC type for calls made with a Page token (24 h window)
MAX_PERCENT = 100.0
MAX_REGAIN_MINUTES = 24 * 60.0  # an estimate beyond a day is not believed (the window is a day)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def _load(raw: str | None) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except (TypeError, ValueError, RecursionError):
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


def percent_of(entry: Mapping[str, Any] | None, problems: list[str] | None = None,
               where: str = "") -> float | None:
    """The highest valid percentage (0..100) in one usage entry; ``None`` when none is valid.

    A value that is present but not a finite number in 0..100 is noted in ``problems``.
    """
    if not entry:
        return None
    found: list[float] = []
    for name in PERCENT_FIELDS:
        if name not in entry:
            continue
        number = _number(entry.get(name))
        if number is None or number < 0 or number > MAX_PERCENT:
            if problems is not None:
                problems.append(f"{where}{name}={str(entry.get(name))[:40]!s}")
            continue
        found.append(number)
    return max(found) if found else None


def regain_of(entry: Mapping[str, Any], problems: list[str] | None = None, where: str = "") -> float | None:
    """``estimated_time_to_regain_access`` in seconds (0 included); ``None`` when absent or invalid."""
    if "estimated_time_to_regain_access" not in entry:
        return None
    minutes = _number(entry.get("estimated_time_to_regain_access"))
    if minutes is None or minutes < 0 or minutes > MAX_REGAIN_MINUTES:
        if problems is not None:
            problems.append(f"{where}estimated_time_to_regain_access="
                            f"{str(entry.get('estimated_time_to_regain_access'))[:40]}")
        return None
    return float(math.ceil(minutes * 60.0))  # whole seconds: a pause of a fraction of a second is no pause


@dataclass(frozen=True)
class Reading:
    """One valid usage figure: which limit (``app``, ``page`` or a BUC ``type``), how full, when back."""

    limit: str  # "app" | "page" | the BUC type ("pages", "ads_management", ...)
    percent: float | None
    regain_seconds: float | None = None


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
        """The highest valid (0..100) percentage of any limit; ``None`` when nothing is known."""
        values = [p for entry in self._entries() if (p := percent_of(entry)) is not None]
        return max(values) if values else None

    def regain_seconds(self, scope_id: str | None = None) -> float | None:
        """Seconds until Meta expects access back (longest valid BUC estimate, for ``scope_id``'s
        entries when given), ``None`` if unknown."""
        seconds = [s for object_id, items in self.business.items()
                   if scope_id is None or object_id == scope_id
                   for entry in items if (s := regain_of(entry)) is not None]
        return max(seconds) if seconds else None

    def readings(self, scope_id: str | None, *, path: str = "") -> tuple[Reading | None, list[Reading]]:
        """(the app reading, the readings for the caller's Page) — every invalid value and every BUC
        entry for another object logged and left out, so it counts as unknown."""
        problems: list[str] = []
        app = None
        if self.app is not None:
            app = Reading("app", percent_of(self.app, problems, "x-app-usage."))
        page: list[Reading] = []
        if self.page is not None:
            page.append(Reading("page", percent_of(self.page, problems, "x-page-usage."),
                                regain_of(self.page, problems, "x-page-usage.")))
        for object_id, items in self.business.items():
            if scope_id is None:
                continue  # a call about no Page (a user token's /me/accounts): no entry can be its Page's
            if object_id != scope_id:
                problems.append(f"x-business-use-case-usage: object {object_id[:40]} is not this call's Page")
                continue
            for entry in items:
                kind = entry.get("type")
                kind = kind if isinstance(kind, str) and kind else PAGES_TYPE
                where = f"x-business-use-case-usage.{kind}."
                page.append(Reading(kind[:40], percent_of(entry, problems, where), regain_of(entry, problems, where)))
        if problems:
            log.warning("graph.usage_value_ignored", path=path, scope_id=scope_id, problems=problems[:8])
        return app, page
