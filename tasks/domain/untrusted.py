"""What socialcal does with untrusted JSON: the text rule, and making any value storable.

Every boundary (``socialcal intake``, a task's arguments, a raw queue message) may hand socialcal any
value JSON can carry, and some of them Facebook, PostgreSQL or UTF-8 cannot take:

* **The text rule (decided once, here).** A NUL, any other C0 control character except tab, newline
  and carriage return, or a lone UTF-16 surrogate (``"\\ud800"`` is valid JSON but not Unicode text)
  in text meant for Facebook is *refused*, never cleaned: approval binds the exact content a person
  saw, so socialcal never changes a person's copy. ``forbidden_reason`` names the field, the
  character and its position, and the output is stored as ``invalid`` with that reason.
* **Everything is storable.** The refused value is still kept — escaped, so nothing is lost and
  PostgreSQL (which refuses NUL in text and JSONB) and UTF-8 accept it: ``escape_text`` writes each
  forbidden character as ``\\uXXXX``. ``storable`` does the same through a whole JSON value and also
  cuts what no row should hold (deep nesting, huge strings and lists, non-finite numbers, integers
  too long to print), saying where it cut.
"""

from __future__ import annotations

import math
import re
from typing import Any

ALLOWED_CONTROLS = frozenset("\t\n\r")
# C0 controls except tab/newline/CR, and every surrogate code point (in a Python str decoded from
# JSON a surrogate is always unpaired: a valid pair becomes one astral character).
_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff]")

MAX_DEPTH = 16
MAX_TEXT = 20_000
MAX_ITEMS = 200
MAX_INT_DIGITS = 100
SHOWN_CHARS = 60


def first_forbidden(text: str) -> tuple[int, str] | None:
    """(0-based index, character) of the first character the text rule refuses, or None."""
    found = _FORBIDDEN.search(text)
    return (found.start(), found.group()) if found else None


def describe_char(char: str) -> str:
    code = f"U+{ord(char):04X}"
    if char == "\x00":
        return f"{code} (NUL)"
    if 0xD800 <= ord(char) <= 0xDFFF:
        return f"{code} (a lone surrogate: invalid Unicode)"
    return f"{code} (a control character)"


def forbidden_reason(field: str, text: str) -> str | None:
    """A plain reason naming ``field``, the character and its position, or None when the text is fine."""
    found = first_forbidden(text)
    if found is None:
        return None
    index, char = found
    count = len(_FORBIDDEN.findall(text))
    more = f" ({count} such characters in all)" if count > 1 else ""
    return (f"{field} has {describe_char(char)} at character {index + 1}{more}: Facebook cannot take it, and "
            "socialcal never changes a person's copy; send the text without it")


def escape_text(text: str) -> str:
    """The text with every forbidden character written as ``\\uXXXX`` (storable anywhere)."""
    return _FORBIDDEN.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def shown(value: Any, limit: int = SHOWN_CHARS) -> str:
    """A short, printable, storable rendering of any value for a reason (``repr`` escapes controls)."""
    try:
        text = repr(value)
    except Exception:  # a value whose repr fails (not from JSON, but be safe)
        text = f"<{type(value).__name__}>"
    text = escape_text(text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def json_type(value: Any) -> str:
    """The JSON name of a value's type, for reasons an operator of any language reads."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, (list, tuple)):
        return "list"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def storable(value: Any, *, max_depth: int = MAX_DEPTH, max_text: int = MAX_TEXT,
             max_items: int = MAX_ITEMS) -> Any:
    """A copy of ``value`` that every JSON/JSONB column and UTF-8 accept, with cuts marked.

    Strings are escaped (``escape_text``) and cut; dict keys likewise; lists and dicts keep their first
    ``max_items`` entries; nesting deeper than ``max_depth`` becomes a marker; NaN/Infinity and integers
    with more than ``MAX_INT_DIGITS`` digits become text; anything that is not JSON becomes its
    ``shown`` form. Never raises, and never recurses deeper than ``max_depth``.
    """
    return _storable(value, 0, max_depth, max_text, max_items)


def _storable(value: Any, depth: int, max_depth: int, max_text: int, max_items: int) -> Any:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        if value.bit_length() > MAX_INT_DIGITS * 3.33:
            return f"[an integer of about {int(value.bit_length() / 3.33)} digits]"
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, str):
        return _cut(escape_text(value[: max_text + 1]), max_text, len(value))
    if depth >= max_depth and isinstance(value, (list, tuple, dict)):
        return f"[{json_type(value)} nested deeper than {max_depth} levels, not kept]"
    if isinstance(value, (list, tuple)):
        items = [_storable(item, depth + 1, max_depth, max_text, max_items) for item in list(value)[:max_items]]
        if len(value) > max_items:
            items.append(f"[{len(value) - max_items} more items not kept]")
        return items
    if isinstance(value, dict):
        result: dict[str, Any] = {}
        for count, (key, item) in enumerate(value.items()):
            if count >= max_items:
                result["[not kept]"] = f"{len(value) - max_items} more keys"
                break
            name = _cut(escape_text(key[:200]), 200, len(key)) if isinstance(key, str) else shown(key)
            result[name] = _storable(item, depth + 1, max_depth, max_text, max_items)
        return result
    return shown(value)


def _cut(text: str, limit: int, original_length: int) -> str:
    if original_length <= limit:
        return text
    return text[:limit] + f"...[cut: {original_length:,} characters in all]"


def storable_text(text: str, limit: int = MAX_TEXT) -> str:
    """One line of text for a Text column (an error message, a reason): escaped and cut."""
    return _cut(escape_text(text[: limit + 1]), limit, len(text))


def nesting_depth(value: Any, limit: int = 10_000) -> int:
    """How deeply lists and objects nest (iteratively, so any depth is safe to measure); stops at ``limit``."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (list, tuple, dict)):
            deepest = max(deepest, depth)
            if deepest >= limit:
                return deepest
            stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest
