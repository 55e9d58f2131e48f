"""Graph's request parameters: loose scalars, times, limits, ``attached_media`` and ``fields``.

Graph accepts loose types ("true"/"1"/true, unix or ISO times, JSON or indexed lists) and a small
field-expansion language (``reactions.summary(true).limit(0)``, ``insights.metric(a,b){values}``).
Parsing them in one place keeps the rules modules about Graph's rules, not about request syntax;
every parse error is Graph's code 100, as on Meta.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Iterable, Mapping

from graph.sandbox.errors import invalid

MAX_LIST_LIMIT = 100
DEFAULT_LIST_LIMIT = 25


def param_str(params: Mapping[str, Any], name: str) -> str | None:
    value = params.get(name)
    if value is None:
        return None
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    text = str(value)
    return text if text != "" else None


def param_bool(params: Mapping[str, Any], name: str, default: bool) -> bool:
    value = params.get(name)
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off"):
        return False
    raise invalid(f"Param {name} must be a boolean")


def parse_time(value: Any, name: str = "time") -> float | None:
    """Unix seconds from a unix number, a digit string, an ISO 8601 time or a YYYY-MM-DD date."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise invalid(f"Param {name} must be a unix timestamp or an ISO 8601 time")
    if isinstance(value, (int, float)):
        return float(value)
    text = str(value).strip()
    if re.fullmatch(r"-?\d+(\.\d+)?", text):
        return float(text)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise invalid(f"Param {name} must be a unix timestamp or an ISO 8601 time, got {text!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.timestamp()


def parse_limit(params: Mapping[str, Any], default: int = DEFAULT_LIST_LIMIT) -> int:
    raw = params.get("limit")
    if raw is None or raw == "":
        return default
    try:
        limit = int(str(raw))
    except ValueError:
        raise invalid("Param limit must be an integer") from None
    if limit < 0:
        raise invalid("Param limit must be a non-negative integer")
    return min(limit, MAX_LIST_LIMIT)


def iso(ts: float) -> str:
    """Graph's time format: ``2025-01-31T08:00:00+0000``."""
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S+0000")


def attached_media_ids(params: Mapping[str, Any]) -> list[str]:
    """``media_fbid`` values from ``attached_media[0]``, ``attached_media[1]``... or a JSON list."""
    items: list[Any] = []
    indexed = []
    for key, value in params.items():
        match = re.fullmatch(r"attached_media\[(\d+)\]", key)
        if match:
            indexed.append((int(match.group(1)), value))
    items.extend(value for _, value in sorted(indexed, key=lambda pair: pair[0]))
    whole = params.get("attached_media")
    if whole not in (None, ""):
        if isinstance(whole, str):
            try:
                whole = json.loads(whole)
            except ValueError:
                raise invalid("Param attached_media must be a JSON array of {\"media_fbid\": ...}") from None
        items.extend(whole if isinstance(whole, list) else [whole])
    ids: list[str] = []
    for index, item in enumerate(items):
        if isinstance(item, str):
            try:
                item = json.loads(item)
            except ValueError:
                raise invalid(f"Param attached_media[{index}] must be JSON like {{\"media_fbid\":\"...\"}}") from None
        if isinstance(item, (int, str)):
            item = {"media_fbid": str(item)}
        if not isinstance(item, dict) or not item.get("media_fbid"):
            raise invalid(f"Param attached_media[{index}] must be JSON like {{\"media_fbid\":\"...\"}}")
        ids.append(str(item["media_fbid"]))
    return ids


# --------------------------------------------------------------------------------------------
# Field expansion: "id,message,reactions.summary(true).limit(0),insights.metric(a,b){values}"


@dataclass(frozen=True)
class FieldSpec:
    name: str
    modifiers: dict[str, str]
    subfields: tuple["FieldSpec", ...] = ()


def _split_top(text: str) -> list[str]:
    parts, depth, current = [], 0, []
    for char in text:
        if char in "({":
            depth += 1
        elif char in ")}":
            depth = max(0, depth - 1)
        if char == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return [part.strip() for part in parts if part.strip()]


def parse_fields(text: str | None) -> list[FieldSpec] | None:
    """Parse Graph's ``fields`` parameter; ``None`` when absent (the caller applies defaults)."""
    if text is None or not str(text).strip():
        return None
    specs = []
    for part in _split_top(str(text)):
        match = re.match(r"[A-Za-z_][\w]*", part)
        if not match:
            raise invalid(f"Syntax error in fields: {part!r}")
        name, rest = match.group(0), part[match.end():]
        subfields: tuple[FieldSpec, ...] = ()
        brace = rest.find("{")
        if brace >= 0 and rest.endswith("}"):
            subfields = tuple(parse_fields(rest[brace + 1:-1]) or ())
            rest = rest[:brace]
        modifiers = {key: value.strip() for key, value in re.findall(r"\.(\w+)\(([^)]*)\)", rest)}
        specs.append(FieldSpec(name, modifiers, subfields))
    return specs


def fields_or(specs: list[FieldSpec] | None, defaults: Iterable[str]) -> list[FieldSpec]:
    """The requested fields, or ``defaults`` when the caller sent no ``fields``."""
    return specs if specs is not None else [FieldSpec(name, {}) for name in defaults]
