"""How every command talks to the person at the keyboard: one-line errors, tables and ``--json``."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any, Iterable, Sequence

import click


class UserError(click.ClickException):
    """A mistake by the person at the keyboard: printed as one line, exit code 1, no traceback."""


def _default(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def emit_json(data: Any) -> None:
    click.echo(json.dumps(data, default=_default, indent=2, sort_keys=False))


def emit_table(rows: Iterable[dict[str, Any]], columns: Sequence[str]) -> None:
    rows = list(rows)
    cells = [[_cell(row.get(col)) for col in columns] for row in rows]
    widths = [max([len(col)] + [len(r[i]) for r in cells]) for i, col in enumerate(columns)]
    click.echo("  ".join(col.upper().ljust(w) for col, w in zip(columns, widths)).rstrip())
    for r in cells:
        click.echo("  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip())
    if not rows:
        click.echo("(none)")


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    text = str(value).replace("\n", " ")
    return text if len(text) <= 60 else text[:57] + "..."


def json_option(func: Any) -> Any:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")(func)
