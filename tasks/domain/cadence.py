"""The cadence: how often, when and what a Page posts. One validation for every way in.

``tenant add``/``tenant update`` (CLI), ``create_tenant`` and the planner all call
``validate_cadence``, so a value the CLI refuses is the same value planning refuses when it finds
it stored (written by SQL, an old version, another tool). Every refusal is a ``CadenceError``
whose message is one line naming the field (``cadence.weekdays: …``), never a ``TypeError``.

Fields (all optional in an update or a Page override; the stored tenant cadence is complete):

``weekdays``        non-empty list of distinct whole numbers 0 (Monday) … 6 (Sunday)
``times``           non-empty list of distinct local times "HH:MM", or the string ``"best"``: the
                    Page's own results pick weekday and hour (``tasks.domain.best_times``)
``fallback_times``  non-empty list of "HH:MM": the times ``"best"`` falls back to while the Page has
                    too few measured posts
``posts_per_week``  whole number 1 … 100 (at most this many slots per ISO week)
``content_types``   non-empty list of content types (text, link, photo, album, video, reel), taken in turn
``themes``          non-empty list of non-empty texts (at most 200 characters each), taken in turn
``skip_dates``      list (may be empty) of dates "YYYY-MM-DD" with no posts
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any, Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from models import DEFAULT_CADENCE, ContentType

BEST = "best"
MAX_POSTS_PER_WEEK = 100
MAX_THEME_CHARS = 200
MAX_LIST_ITEMS = 366
DEFAULT_FALLBACK_TIMES = ["10:00"]
FIELDS = ("weekdays", "times", "fallback_times", "posts_per_week", "content_types", "themes", "skip_dates")
_HHMM = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])$")
DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


class CadenceError(ValueError):
    """A cadence value of the wrong type or range; the message is one line naming the field."""


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _list(value: Any, field: str, *, allow_empty: bool = False) -> list[Any]:
    if not isinstance(value, list):
        raise CadenceError(f"cadence.{field}: expected a list, got {type(value).__name__} {_show(value)}")
    if not value and not allow_empty:
        raise CadenceError(f"cadence.{field}: the list is empty (give at least one value)")
    if len(value) > MAX_LIST_ITEMS:
        raise CadenceError(f"cadence.{field}: {len(value)} values; at most {MAX_LIST_ITEMS}")
    return value


def _distinct(values: list[Any], field: str) -> list[Any]:
    seen: list[Any] = []
    for value in values:
        if value in seen:
            raise CadenceError(f"cadence.{field}: {_show(value)} is listed twice")
        seen.append(value)
    return values


def _hhmm(value: Any, field: str) -> str:
    if not isinstance(value, str) or not _HHMM.match(value):
        raise CadenceError(f"cadence.{field}: {_show(value)} is not a time of day HH:MM (00:00 to 23:59)")
    return value


def _weekdays(value: Any) -> list[int]:
    days = _list(value, "weekdays")
    for day in days:
        if not _is_int(day) or not 0 <= day <= 6:
            raise CadenceError(f"cadence.weekdays: {_show(day)} is not a weekday (0 = Monday ... 6 = Sunday)")
    return sorted(_distinct(days, "weekdays"))


def _times(value: Any) -> str | list[str]:
    if value == BEST:
        return BEST
    if isinstance(value, str):
        raise CadenceError(f"cadence.times: expected a list of HH:MM times or \"best\", got {_show(value)}")
    return sorted(_distinct([_hhmm(t, "times") for t in _list(value, "times")], "times"))


def _fallback_times(value: Any) -> list[str]:
    return sorted(_distinct([_hhmm(t, "fallback_times") for t in _list(value, "fallback_times")],
                            "fallback_times"))


def _posts_per_week(value: Any) -> int:
    if not _is_int(value) or not 1 <= value <= MAX_POSTS_PER_WEEK:
        raise CadenceError(f"cadence.posts_per_week: {_show(value)} is not a whole number from 1 to "
                           f"{MAX_POSTS_PER_WEEK} (pause the tenant to post nothing)")
    return int(value)


def _content_types(value: Any) -> list[str]:
    known = [c.value for c in ContentType]
    for item in _list(value, "content_types"):
        if item not in known:
            raise CadenceError(f"cadence.content_types: {_show(item)} is not one of {', '.join(known)}")
    return list(value)


def _themes(value: Any) -> list[str]:
    for item in _list(value, "themes"):
        if not isinstance(item, str) or not item.strip():
            raise CadenceError(f"cadence.themes: {_show(item)} is not a non-empty text")
        if len(item) > MAX_THEME_CHARS:
            raise CadenceError(f"cadence.themes: a theme of {len(item)} characters; at most {MAX_THEME_CHARS}")
    return [t.strip() for t in value]


def _skip_dates(value: Any) -> list[str]:
    result = []
    for item in _list(value, "skip_dates", allow_empty=True):
        try:
            if not isinstance(item, str):
                raise ValueError
            result.append(date.fromisoformat(item).isoformat())
        except ValueError:
            raise CadenceError(f"cadence.skip_dates: {_show(item)} is not a date YYYY-MM-DD") from None
    return sorted(set(result))


_CHECKS = {"weekdays": _weekdays, "times": _times, "fallback_times": _fallback_times,
           "posts_per_week": _posts_per_week, "content_types": _content_types, "themes": _themes,
           "skip_dates": _skip_dates}


def validate_partial(values: Any, *, what: str = "cadence") -> dict[str, Any]:
    """Check the fields given (an update or a Page override); the result is normalised (sorted days)."""
    if not isinstance(values, Mapping):
        raise CadenceError(f"{what}: expected an object of cadence fields, got {type(values).__name__}")
    unknown = sorted(str(k) for k in values if k not in _CHECKS)
    if unknown:
        raise CadenceError(f"cadence.{unknown[0]}: unknown cadence field (known: {', '.join(FIELDS)})")
    return {key: _CHECKS[key](values[key]) for key in FIELDS if key in values}


def validate_cadence(values: Any) -> dict[str, Any]:
    """A complete cadence: the defaults filled in, every field checked, normalised."""
    partial = validate_partial(values)
    complete = {**DEFAULT_CADENCE, "fallback_times": DEFAULT_FALLBACK_TIMES, **partial}
    return validate_partial(complete)


def effective_cadence(tenant_cadence: Any, override: Any = None) -> dict[str, Any]:
    """The cadence one Page plans with: the tenant's, with the Page's override on top, checked."""
    base = validate_partial(tenant_cadence if tenant_cadence is not None else {})
    extra = validate_partial(override, what="Page cadence override") if override is not None else {}
    return validate_cadence({**base, **extra})


def validate_timezone(name: Any) -> str:
    if not isinstance(name, str) or not name.strip():
        raise CadenceError(f"timezone: expected an IANA time zone name such as Europe/Berlin, got {_show(name)}")
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise CadenceError(f"timezone: unknown time zone {name!r} (use an IANA name such as Europe/Berlin)") from None
    return name


def parse_weekday(token: str) -> int:
    """A weekday from the command line: a number (range-checked by ``validate_cadence``) or a day
    name, whole or its first three letters (mon, Tuesday, ...)."""
    text = token.strip().lower()
    if re.fullmatch(r"[+-]?[0-9]+", text):
        return int(text)
    for number, name in enumerate(DAY_NAMES):
        if text in (name, name[:3]):
            return number
    raise CadenceError(f"cadence.weekdays: {token!r} is not a weekday (0 = Monday ... 6 = Sunday, or mon ... sun)")
