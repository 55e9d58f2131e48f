"""Reading the arguments of a queue message, which are untrusted: anything JSON can carry may arrive.

Each reader returns the value in the type the domain wants or raises ``BadMessage`` naming the field,
so a malformed message fails with a plain reason instead of a ``TypeError`` deep inside the logic.
Task shells receive arguments already checked against their contract (``tasks.domain.contracts``);
these readers serve lookups of ids that arrive elsewhere (inside a payload, in a log context).
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from tasks.domain.errors import BadMessage


def require_uuid(value: Any, field: str) -> str:
    """Accept only a UUID string; returns it in canonical form."""
    if not isinstance(value, str):
        raise BadMessage(f"{field}: expected a UUID string, got {type(value).__name__}")
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise BadMessage(f"{field}: not a UUID") from None


def optional_uuid(value: Any) -> str | None:
    """The canonical UUID string, or None for anything that is not one (lenient lookups)."""
    if not isinstance(value, str):
        return None
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None


def require_text(value: Any, field: str, limit: int = 200) -> str:
    """Non-empty text, stripped and cut to ``limit`` characters."""
    if not isinstance(value, str) or not value.strip():
        raise BadMessage(f"{field}: expected non-empty text")
    return value.strip()[:limit]


def require_iso_date(value: Any, field: str) -> date:
    if not isinstance(value, str):
        raise BadMessage(f"{field}: expected an ISO date string")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise BadMessage(f"{field}: not an ISO date") from None


def require_number(value: Any, field: str, *, minimum: float = 0.0) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < minimum:
        raise BadMessage(f"{field}: expected a number >= {minimum}")
    return float(value)
