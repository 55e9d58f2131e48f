"""Field types of the message contracts: the JSON type on the wire, and the value the domain gets.

Each type is annotated with the JSON a caller in any language sends (a string, a number) and
validated strictly, with no coercion ("5" is not a number, true is not 1); after-validators turn the
wire value into what the domain wants (a canonical UUID string, a ``date``, an aware UTC
``datetime``) and apply socialcal's text rule. Every failure raises a ``PydanticCustomError`` whose
message is already a plain reason, never containing the value itself (it may be a token).
"""

from __future__ import annotations

import math
import re
import uuid
from datetime import date, datetime, timezone
from typing import Annotated, Any

from pydantic import AfterValidator, Field, Strict, WithJsonSchema
from pydantic_core import PydanticCustomError

from tasks.domain.untrusted import describe_char, first_forbidden

UUID_PATTERN = "^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$"
MONTH = re.compile(r"^\d{4}-\d{2}$")


def _canonical_uuid(value: str) -> str:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise PydanticCustomError("uuid", "not a UUID") from None


def apply_text_rule(value: str) -> str:
    """The text rule of ``tasks.domain.untrusted``: NUL, C0 controls and lone surrogates are refused."""
    found = first_forbidden(value)
    if found is not None:
        index, char = found
        raise PydanticCustomError("text_rule", "has {char} at character {position}: not allowed in socialcal input",
                                  {"char": describe_char(char), "position": index + 1})
    return value


def _non_empty_cut(limit: int | None) -> Any:
    def check(value: str) -> str:
        apply_text_rule(value)
        value = value.strip()
        if not value:
            raise PydanticCustomError("empty", "expected non-empty text")
        return value[:limit] if limit else value
    return check


def _iso_date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise PydanticCustomError("iso_date", "not an ISO date (YYYY-MM-DD)") from None


def _aware_time(value: str) -> datetime:
    apply_text_rule(value)
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise PydanticCustomError("iso_time", "not an ISO 8601 time") from None
    if parsed.tzinfo is None:
        raise PydanticCustomError("naive_time", "needs a UTC offset (e.g. 2026-12-01T10:00:00+01:00)")
    try:
        return parsed.astimezone(timezone.utc)
    except OverflowError:
        raise PydanticCustomError("iso_time", "is outside the years a calendar can hold") from None


def _month(value: str) -> str:
    if not MONTH.match(value) or not 1 <= int(value[5:]) <= 12:
        raise PydanticCustomError("month", "expected a month as YYYY-MM")
    return value


def _finite(value: float) -> float:
    if not math.isfinite(value):
        raise PydanticCustomError("finite", "expected a finite number")
    return float(value)


Uuid = Annotated[str, Strict(), AfterValidator(_canonical_uuid),
                 WithJsonSchema({"type": "string", "format": "uuid", "pattern": UUID_PATTERN})]
"""An id: a UUID string (any spelling ``uuid.UUID`` reads; handed on in canonical form)."""


def Text(limit: int | None = None, description: str | None = None) -> Any:  # noqa: N802 - a type factory
    """Non-empty text under the text rule, stripped; longer than ``limit`` is cut (as it always was)."""
    cut = f" Longer text is cut to {limit} characters." if limit else ""
    return Annotated[str, Strict(), AfterValidator(_non_empty_cut(limit)),
                     WithJsonSchema({"type": "string", "minLength": 1,
                                     "description": ((description or "") + " No NUL, control characters (except "
                                                     "tab, newline, CR) or lone surrogates." + cut).strip()})]


IsoDate = Annotated[str, Strict(), AfterValidator(_iso_date), WithJsonSchema({"type": "string", "format": "date"})]
AwareTime = Annotated[str, Strict(), AfterValidator(_aware_time),
                      WithJsonSchema({"type": "string", "format": "date-time",
                                      "description": "ISO 8601 with a UTC offset"})]
Month = Annotated[str, Strict(), AfterValidator(_month),
                  WithJsonSchema({"type": "string", "pattern": r"^\d{4}-(0[1-9]|1[0-2])$", "description": "YYYY-MM"})]
NonNegative = Annotated[float, Strict(), Field(ge=0), AfterValidator(_finite)]
NonNegativeInt = Annotated[int, Strict(), Field(ge=0)]


def _whole(value: float) -> int:
    return int(_finite(value))


Index = Annotated[float, Strict(), Field(ge=0), AfterValidator(_whole),
                  WithJsonSchema({"type": "number", "minimum": 0, "description": "a position (fractions are dropped)"})]
