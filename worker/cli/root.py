"""The root command group and the rules every command shares: one-line errors, ``--json`` output."""

from __future__ import annotations

import json
import sys
from datetime import date, datetime
from typing import Any, Iterable, Sequence

import click

from worker.settings import SettingsError, get_settings


class UserError(click.ClickException):
    """A mistake by the person at the keyboard: printed as one line, exit code 1, no traceback."""


_ONE_LINE_ERRORS: tuple[type[BaseException], ...] = (SettingsError,)


def one_line_errors(*types: type[BaseException]) -> None:
    """Register more exception types that mean 'user mistake' (called by command modules)."""
    global _ONE_LINE_ERRORS
    _ONE_LINE_ERRORS = _ONE_LINE_ERRORS + types


class SocialcalGroup(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except _ONE_LINE_ERRORS as error:
            raise UserError(str(error).splitlines()[0] if str(error) else type(error).__name__) from None


@click.group(cls=SocialcalGroup)
def cli() -> None:
    """socialcal: plan, approve, publish and measure Facebook Page posts."""
    from worker.logging import configure_logging

    settings = get_settings()
    configure_logging(settings.log_format, settings.log_level)


def main() -> None:
    try:
        import worker.cli.commands  # noqa: F401 - registers the commands; reads settings on the way
    except SettingsError as error:
        click.echo(f"Error: {error}", err=True)
        sys.exit(2)
    cli.main(prog_name="socialcal")


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
