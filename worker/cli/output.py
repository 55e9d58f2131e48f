"""How every command talks to the person at the keyboard: one-line errors, tables and ``--json``."""

from __future__ import annotations

import json
import re
import uuid
from datetime import date, datetime, timedelta, timezone
from typing import Any, Iterable, Sequence

import click

from tasks.domain.untrusted import forbidden_reason, shown


class UserError(click.ClickException):
    """A mistake by the person at the keyboard: printed as one line, exit code 1, no traceback."""


def _name(param: click.Parameter | None) -> str:
    if param is None:
        return "value"
    if isinstance(param, click.Option) and param.opts:
        return max(param.opts, key=len)
    return (param.human_readable_name or "value").upper()


class SafeText(click.ParamType):
    """Text for an option or argument, under socialcal's text rule (``tasks.domain.untrusted``).

    A NUL, a control character or invalid Unicode (a command line that is not UTF-8 arrives as lone
    surrogates) is refused as one line naming the option and the position, before anything reaches
    the database, the Graph API or the terminal. The value itself is never echoed (it may be a token).
    """

    name = "text"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if not isinstance(value, str):
            return value
        problem = forbidden_reason(_name(param), value)
        if problem:
            raise UserError(problem.split(":", 1)[0] + ": not allowed in socialcal input")
        return value


class UuidId(click.ParamType):
    """An id (tenant, post, job, Page integration): a UUID, handed on in canonical form."""

    name = "uuid"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, uuid.UUID):
            return str(value)
        try:
            return str(uuid.UUID(value))
        except (TypeError, ValueError, AttributeError):
            raise UserError(f"{_name(param)} must be an id (a UUID such as 2f1c…-…), got {shown(value, 40)}") from None


TEXT = SafeText()
ID = UuidId()


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


class TimeOrAgo(click.ParamType):
    """A moment: ISO 8601 with an offset (``2026-12-01T10:00:00Z``) or an age (``30m``, ``24h``, ``7d``)."""

    name = "time"
    _AGO = re.compile(r"^(\d+)([mhd])$")

    def convert(self, value: Any, param: Any, ctx: Any) -> datetime:
        if isinstance(value, datetime):
            return value
        text = str(value).strip()
        match = self._AGO.match(text)
        if match:
            unit = {"m": "minutes", "h": "hours", "d": "days"}[match[2]]
            return datetime.now(timezone.utc) - timedelta(**{unit: int(match[1])})
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            self.fail(f"{text!r} is neither an ISO 8601 time nor an age like 30m, 24h or 7d", param, ctx)
        if parsed.tzinfo is None:
            self.fail(f"{text!r} needs a UTC offset, e.g. 2026-12-01T10:00:00Z", param, ctx)
        return parsed.astimezone(timezone.utc)


def dry_run_option(func: Any) -> Any:
    return click.option("--dry-run", is_flag=True, help="Print the count and the ids; change nothing.")(func)


def emit_bulk(selection: dict[str, Any], results: list[dict[str, Any]] | None, as_json: bool, what: str) -> None:
    """One shape for every bulk command: what matched, and (unless a dry run) what was done to each."""
    if as_json:
        emit_json({**selection, "dry_run": results is None, "results": results})
        return
    more = selection["count"] - selection["selected"]
    tail = f" (the first {selection['selected']}; {more} more after them, run again)" if more > 0 else ""
    if results is None:
        click.echo(f"dry run: {selection['count']} {what} match; would act on {selection['selected']}{tail}")
        for item_id in selection["ids"]:
            click.echo(f"  {item_id}")
        return
    done = sum(1 for r in results if r["done"])
    click.echo(f"{selection['count']} {what} matched; {done} of {len(results)} done{tail}")
    for r in results:
        click.echo(f"  {r['id']}  {'ok ' if r['done'] else 'no '} {r['note']}")
