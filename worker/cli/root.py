"""The ``socialcal`` command group: every command module's commands, and the rules they share.

Command modules define plain click commands and groups and import only ``worker.cli.output``; this
module collects them (one direction only, no registration by import side effect) and turns the
exceptions each module lists in ``USER_ERRORS`` into one-line errors.
"""

from __future__ import annotations

from typing import Any

import click

from worker.cli import (
    db_keys,
    facebook_cmds,
    insights_cmds,
    ops_cmds,
    pipeline_cmds,
    posts_cmds,
    runtime_cmds,
    schemas_cmds,
    status_cmds,
    tenant_cmds,
)
from worker.cli.output import TEXT, UserError
from worker.core.logging import get_logger
from worker.core.redaction import redact_text
from worker.core.settings import SettingsError, get_settings

COMMAND_MODULES = (db_keys, tenant_cmds, facebook_cmds, pipeline_cmds, posts_cmds, ops_cmds, insights_cmds,
                   runtime_cmds, status_cmds, schemas_cmds)
ONE_LINE_ERRORS: tuple[type[BaseException], ...] = (SettingsError,) + tuple(
    error for module in COMMAND_MODULES for error in getattr(module, "USER_ERRORS", ()))


class SocialcalGroup(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ONE_LINE_ERRORS as error:
            raise UserError(str(error).splitlines()[0] if str(error) else type(error).__name__) from None
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as error:  # a bug or an outage: still one line for the operator, the trace in the log
            get_logger(__name__).debug("cli_unexpected_error", exc_info=True)
            first = redact_text(str(error).splitlines()[0]) if str(error) else ""
            raise UserError(f"unexpected {type(error).__name__}{': ' + first[:300] if first else ''} "
                            "(SOCIALCAL_LOG_LEVEL=DEBUG shows the traceback)") from None


def apply_text_rule(command: click.Command) -> None:
    """Every plain-text option and argument of ``command`` (and its subcommands) follows the text rule,
    so a command added later cannot forget it; ids carry their own type (``worker.cli.output.ID``)."""
    for param in command.params:
        if param.type is click.STRING:
            param.type = TEXT
    for sub in getattr(command, "commands", {}).values():
        apply_text_rule(sub)


@click.group(cls=SocialcalGroup)
def cli() -> None:
    """socialcal: plan, approve, publish and measure Facebook Page posts."""
    from worker.core.logging import configure_logging

    settings = get_settings()
    configure_logging(settings.log_format, settings.log_level)
    # Commands that approve, plan or requeue send follow-up tasks through the socialcal app.
    import worker.app  # noqa: F401


for _command in (
    db_keys.db, db_keys.keys, tenant_cmds.tenant, facebook_cmds.facebook, pipeline_cmds.plan,
    pipeline_cmds.intake_cmd, pipeline_cmds.approve_cmd, pipeline_cmds.reject_cmd, posts_cmds.posts,
    ops_cmds.jobs, insights_cmds.insights, runtime_cmds.worker, runtime_cmds.beat, runtime_cmds.sandbox,
    runtime_cmds.demo, status_cmds.status, status_cmds.metrics, schemas_cmds.schemas,
):
    cli.add_command(_command)
apply_text_rule(cli)
