"""``socialcal schemas export``: the message contracts as JSON Schema files, for callers in any language."""

from __future__ import annotations

from pathlib import Path

import click

from tasks.domain.contracts.export import differences, export
from worker.cli.output import UserError


@click.group()
def schemas() -> None:
    """JSON Schema of every task's arguments and every agent message."""


@schemas.command("export")
@click.option("--dir", "directory", default="schemas", show_default=True,
              type=click.Path(file_okay=False, path_type=Path), help="Where to write tasks/*.json and messages/*.json.")
@click.option("--check", is_flag=True, help="Write nothing; exit 1 if the files differ from the code.")
def schemas_export(directory: Path, check: bool) -> None:
    """Write the schema files generated from the contracts (tasks/domain/contracts)."""
    if check:
        problems = differences(directory)
        if problems:
            raise UserError(f"{len(problems)} schema file(s) out of date in {directory} (first: {problems[0]}); "
                            f"run `socialcal schemas export --dir {directory}`")
        click.echo(f"{directory}: up to date")
        return
    written = export(directory)
    click.echo(f"wrote {len(written)} schema files under {directory}")
