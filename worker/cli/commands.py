"""Importing this module registers every command group on ``cli``."""

from worker.cli import (  # noqa: F401 - each module adds its commands to the group
    db_keys,
    facebook_cmds,
    insights_cmds,
    ops_cmds,
    pipeline_cmds,
    posts_cmds,
    runtime_cmds,
    tenant_cmds,
)
from worker.cli.root import cli

__all__ = ["cli"]
