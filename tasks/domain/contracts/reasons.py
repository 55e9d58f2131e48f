"""A pydantic ``ValidationError`` as short plain reasons, one per problem, each naming its field.

Never the raw error: its text repeats the input (which may be a token, or megabytes) and reads like a
stack trace. Each reason is "<field>: <what is wrong>", with the JSON type of what arrived where that
helps ("expected text, got number").
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from tasks.domain.untrusted import json_type, storable_text

_EXPECTED = {
    "string_type": "expected text", "int_type": "expected a whole number", "float_type": "expected a number",
    "bool_type": "expected true or false", "dict_type": "expected an object", "list_type": "expected a list",
    "model_type": "expected an object", "none_required": "expected null",
}


def _field(loc: tuple[Any, ...]) -> str:
    parts = [f"#{part + 1}" if isinstance(part, int) else str(part) for part in loc]
    return storable_text(".".join(parts), 100) if parts else "arguments"


def plain_reason(error: dict[str, Any]) -> str:
    kind, field = error.get("type", ""), _field(tuple(error.get("loc", ())))
    if kind == "missing":
        return f"{field} is missing"
    if kind in _EXPECTED:
        return f"{field}: {_EXPECTED[kind]}, got {json_type(error.get('input'))}"
    if kind == "literal_error":
        return f"{field}: expected {error.get('ctx', {}).get('expected', 'one of the allowed values')}"
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        return f"{field}: {error['msg'].replace('Input should be ', 'must be ')}"
    message = str(error.get("msg", "is not valid"))
    message = message.removeprefix("Value error, ")
    # Our own validators' messages (PydanticCustomError) are already plain and never hold the input.
    return f"{field}: {storable_text(message, 200)}" if field != "arguments" else storable_text(message, 200)


def plain_reasons(error: ValidationError) -> list[str]:
    return [plain_reason(item) for item in error.errors(include_url=False, include_context=True)]
