"""The ``socialcal`` command. ``main`` imports the command modules itself, so a bad setting read
while importing them still ends as one line on stderr, never a traceback."""

from __future__ import annotations

import sys
from typing import Any

__all__ = ["cli", "main"]


def main() -> None:
    import click

    from worker.core.settings import SettingsError

    try:
        from worker.cli.root import cli
    except SettingsError as error:
        click.echo(f"Error: {error}", err=True)
        sys.exit(2)
    cli.main(prog_name="socialcal")


def __getattr__(name: str) -> Any:
    if name == "cli":
        from worker.cli.root import cli

        return cli
    raise AttributeError(name)
