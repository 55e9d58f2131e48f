"""``socialcal facebook connect|list|disconnect``: Pages in, tokens encrypted, nothing printed that is secret."""

from __future__ import annotations

import click
import redis

from graph.errors import GraphError
from models.crypto import get_cipher
from models.db import transaction
from tasks.domain.clients import app_client, budget_for, client_for_token
from tasks.domain.connect import TokenRefused, connect_page_token, connect_user_token, long_lived_user_token
from tasks.domain.integrations import IntegrationNotFound, disconnect_integration
from tasks.domain.tenancy import TenantError
from tasks.domain.token_health import list_pages
from worker.cli.output import ID, UserError, emit_json, emit_table, json_option
from worker.core.settings import get_settings


@click.group()
def facebook() -> None:
    """Facebook Pages."""


@facebook.command("connect")
@click.option("--tenant", "tenant_id", required=True, type=ID)
@click.option("--page-id", help="With --page-token: the Page to connect.")
@click.option("--page-token", help="A Page access token (prefer the environment: SOCIALCAL_PAGE_TOKEN).",
              envvar="SOCIALCAL_PAGE_TOKEN")
@click.option("--user-token", help="A user token: every Page it manages is connected.", envvar="SOCIALCAL_USER_TOKEN")
@json_option
def connect(tenant_id: str, page_id: str | None, page_token: str | None, user_token: str | None,
            as_json: bool) -> None:
    """Verify and store a Page token, or every Page token a user token manages."""
    if bool(user_token) == bool(page_token):
        raise UserError("give either --page-token with --page-id, or --user-token")
    if page_token and not page_id:
        raise UserError("--page-token needs --page-id")
    cipher = get_cipher()
    settings = get_settings()
    app = app_client(settings)  # None without SOCIALCAL_FB_APP_ID and SOCIALCAL_FB_APP_SECRET
    try:
        token = long_lived_user_token(app, settings, user_token) if user_token else (page_token or "")
        client = client_for_token(token, purpose="publish", scope_id=page_id)
        with transaction() as session:
            if user_token:
                results = connect_user_token(session, cipher, client, tenant_id=tenant_id, app=app, settings=settings)
            else:
                results = [connect_page_token(session, cipher, client, tenant_id=tenant_id, page_id=page_id or "",
                                              page_token=token, app=app, settings=settings)]
    except TokenRefused as error:
        raise UserError(f"token refused, nothing stored: {error}") from None
    except GraphError as error:
        raise UserError(f"Facebook refused: {error}") from None
    except TenantError as error:
        raise UserError(str(error)) from None
    rows = [{"integration_id": r.integration_id, "page_id": r.page_id, "page_name": r.page_name,
             "created": r.created, "token_expires_at": r.token_expires_at} for r in results]
    if as_json:
        emit_json(rows)
    else:
        emit_table(rows, ["integration_id", "page_id", "page_name", "created", "token_expires_at"])


@facebook.command("disconnect")
@click.argument("integration_id")
@json_option
def disconnect(integration_id: str, as_json: bool) -> None:
    """Disable a Page: nothing more is planned, published or pulled for it; its approved posts wait
    until it is reconnected with `socialcal facebook connect`."""
    try:
        with transaction() as session:
            result = disconnect_integration(session, integration_id)
    except IntegrationNotFound as error:
        raise UserError(str(error)) from None
    if as_json:
        emit_json(result)
        return
    click.echo(f"{result['page_name'] or result['page_id']} ({result['integration_id']}) disconnected: "
               f"{result['approved_waiting']} approved post(s) wait until it is reconnected; "
               f"{result['publishing_now']} being published finish; {result['scheduled_on_facebook']} already "
               "scheduled on Facebook stay there (cancel them in Meta Business Suite if they must not go out)")


@facebook.command("list")
@json_option
def list_cmd(as_json: bool) -> None:
    """Every connected Page: tenant, status, token expiry, the last daily token check, pauses in force."""
    settings = get_settings()
    cipher = get_cipher(settings)
    budget = budget_for(settings)  # the in-process one in the embedded demo
    with transaction() as session:
        try:
            rows = list_pages(session, budget, cipher)
        except redis.RedisError:
            rows = list_pages(session, None, cipher)  # pauses unknown; the rest still shows
            for row in rows:
                row["pauses"] = "unknown (Redis unreachable)"
    if as_json:
        emit_json(rows)
        return
    table = [{"page": f"{r['page_name'] or ''} ({r['page_id']})", "tenant": r["tenant"], "status": r["status"],
              "token_expires_at": r["token_expires_at"] or ("never" if r["scopes"] is not None else "unknown"),
              "last_check": f"{r['last_check'] or 'never'} {r['check'] or ''}".strip(),
              "pauses": ", ".join(f"{k} until {v['until']} ({v['reason']})" for k, v in r["pauses"].items())
              if isinstance(r["pauses"], dict) else r["pauses"]} for r in rows]
    emit_table(table, ["page", "tenant", "status", "token_expires_at", "last_check", "pauses"])
