"""The ``socialcal`` command. ``main`` imports the command modules itself, so a bad setting read
while importing them still ends as one line on stderr, never a traceback."""

from __future__ import annotations

from typing import Any

from worker.cli.root import main

__all__ = ["cli", "main"]


def __getattr__(name: str) -> Any:
    if name == "cli":
        from worker.cli.commands import cli

        return cli
    raise AttributeError(name)
