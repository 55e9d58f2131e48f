"""``socialcal tenant add|list``."""

from __future__ import annotations

import click
from sqlalchemy import select

from models import Tenant
from models.db import transaction
from tasks.domain.tenancy import TenantError, create_tenant
from worker.cli.output import emit_json, emit_table, json_option
from worker.cli.views import tenant_view

# Exceptions that mean "the operator asked for something impossible": one line, no traceback.
USER_ERRORS: tuple[type[BaseException], ...] = (TenantError,)


@click.group()
def tenant() -> None:
    """Tenants (one per customer)."""


@tenant.command("add")
@click.option("--name", required=True)
@click.option("--timezone", "tz", default="UTC", show_default=True, help="IANA time zone for the calendar.")
@click.option("--auto-publish", is_flag=True, help="Publish live when due (otherwise scheduled posts or drafts).")
@json_option
def tenant_add(name: str, tz: str, auto_publish: bool, as_json: bool) -> None:
    """Create a tenant and print its id."""
    with transaction() as session:
        created = tenant_view(create_tenant(session, name=name, timezone=tz, auto_publish=auto_publish))
    emit_json(created) if as_json else click.echo(created["id"])


@tenant.command("list")
@json_option
def tenant_list(as_json: bool) -> None:
    """List tenants."""
    with transaction() as session:
        rows = [tenant_view(t) for t in session.scalars(select(Tenant).order_by(Tenant.created_at))]
    emit_json(rows) if as_json else emit_table(rows, ["id", "name", "timezone", "auto_publish", "status"])
