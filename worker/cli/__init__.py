"""The ``socialcal`` command. Each sub-module adds one group of commands to ``cli``."""

from __future__ import annotations

from worker.cli.root import cli, main
from worker.cli import db_keys, facebook_cmds, ops_cmds, pipeline_cmds, posts_cmds, runtime_cmds, tenant_cmds  # noqa: F401,E402 - register commands

__all__ = ["cli", "main"]
