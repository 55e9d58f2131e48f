"""``socialcal tenant add|update|show|list|pause|resume``: the operator's controls for a tenant.

Cadence options are parsed here only into plain values (lists, numbers); whether a value is
allowed is decided by ``tasks.domain.cadence``, the same check the planner applies, so every refusal
is one line naming the field.
"""

from __future__ import annotations

import json
from typing import Any, Callable

import click
from sqlalchemy import select

from models import Tenant
from models.db import transaction
from tasks.domain.cadence import BEST, DAY_NAMES, CadenceError, parse_weekday
from tasks.domain.tenancy import (
    TenantError,
    create_tenant,
    pause_tenant,
    resume_tenant,
    set_page_cadence,
    tenant_details,
    update_tenant,
)
from worker.cli.output import UserError, emit_json, emit_table, json_option
from worker.cli.views import tenant_view

# Exceptions that mean "the operator asked for something impossible": one line, no traceback.
USER_ERRORS: tuple[type[BaseException], ...] = (TenantError, CadenceError)


def _items(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _posts_per_week(text: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise CadenceError(f"cadence.posts_per_week: {text!r} is not a whole number from 1 to 100") from None


def _cadence_json(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise CadenceError(f"cadence: --cadence is not JSON ({error.msg} at character {error.pos})") from None
    if not isinstance(value, dict):
        raise CadenceError(f"cadence: --cadence must be a JSON object of cadence fields, got {type(value).__name__}")
    return value


def cadence_changes(options: dict[str, Any]) -> dict[str, Any]:
    """The cadence fields named on the command line (``--cadence`` JSON first, single options on top)."""
    changes: dict[str, Any] = _cadence_json(options["cadence_json"]) if options.get("cadence_json") else {}
    if options.get("weekdays") is not None:
        changes["weekdays"] = [parse_weekday(t) for t in _items(options["weekdays"])]
    if options.get("times") is not None:
        text = options["times"].strip()
        changes["times"] = BEST if text.lower() == BEST else _items(text)
    if options.get("fallback_times") is not None:
        changes["fallback_times"] = _items(options["fallback_times"])
    if options.get("posts_per_week") is not None:
        changes["posts_per_week"] = _posts_per_week(options["posts_per_week"])
    if options.get("content_types") is not None:
        changes["content_types"] = _items(options["content_types"])
    if options.get("themes"):
        changes["themes"] = list(options["themes"])
    if options.get("skip_dates") is not None:
        text = options["skip_dates"].strip()
        changes["skip_dates"] = [] if text.lower() in ("", "none") else _items(text)
    return changes


def cadence_options(func: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option("--weekdays", help="Posting days: 0-6 (0 = Monday) or mon..sun, comma-separated."),
        click.option("--times", help='Local times HH:MM, comma-separated, or "best" (the Page\'s own results).'),
        click.option("--fallback-times", help='Times "best" uses while a Page has too few measured posts.'),
        click.option("--posts-per-week", help="At most this many posts per week (1-100)."),
        click.option("--content-types", help="Content types taken in turn: text,link,photo,album,video,reel."),
        click.option("--theme", "themes", multiple=True, help="A theme (repeat the option; replaces the list)."),
        click.option("--skip-dates", help='Dates with no posts, YYYY-MM-DD comma-separated ("none" clears).'),
        click.option("--cadence", "cadence_json", help="Cadence fields as a JSON object (for scripts)."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


@click.group()
def tenant() -> None:
    """Tenants (one per customer) and their cadence."""


@tenant.command("add")
@click.option("--name", required=True)
@click.option("--timezone", "tz", default="UTC", show_default=True, help="IANA time zone for the calendar.")
@click.option("--auto-publish", is_flag=True, help="Publish live when due (otherwise scheduled posts or drafts).")
@cadence_options
@json_option
def tenant_add(name: str, tz: str, auto_publish: bool, as_json: bool, **options: Any) -> None:
    """Create a tenant and print its id (the cadence defaults to Mon/Wed/Fri 10:00)."""
    changes = cadence_changes(options)
    with transaction() as session:
        created = tenant_view(create_tenant(session, name=name, timezone=tz, auto_publish=auto_publish,
                                            cadence=changes))
    emit_json(created) if as_json else click.echo(created["id"])


@tenant.command("update")
@click.argument("tenant_id")
@click.option("--name")
@click.option("--timezone", "tz", help="IANA time zone for the calendar.")
@click.option("--auto-publish/--no-auto-publish", default=None, help="Publish live when due, or never live.")
@click.option("--page", "integration_id", help="Apply the cadence options to this Page only (an override).")
@click.option("--clear-override", is_flag=True, help="With --page: drop the Page's override.")
@cadence_options
@json_option
def tenant_update(tenant_id: str, name: str | None, tz: str | None, auto_publish: bool | None,
                  integration_id: str | None, clear_override: bool, as_json: bool, **options: Any) -> None:
    """Change a tenant's settings and cadence, or one Page's cadence override (--page)."""
    changes = cadence_changes(options)
    if integration_id is None and clear_override:
        raise UserError("--clear-override needs --page INTEGRATION_ID")
    if integration_id is not None and (name is not None or tz is not None or auto_publish is not None):
        raise UserError("--page takes cadence options only; name, timezone and auto-publish are the tenant's")
    if not changes and not clear_override and name is None and tz is None and auto_publish is None:
        raise UserError("nothing to change: give --name, --timezone, --auto-publish/--no-auto-publish or a "
                        "cadence option")
    with transaction() as session:
        if integration_id is not None:
            set_page_cadence(session, tenant_id, integration_id, changes, clear=clear_override)
        else:
            update_tenant(session, tenant_id, name=name, timezone=tz, auto_publish=auto_publish, cadence=changes)
        details = tenant_details(session, tenant_id)
    if as_json:
        emit_json(details)
    else:
        _print_details(details)


@tenant.command("show")
@click.argument("tenant_id")
@json_option
def tenant_show(tenant_id: str, as_json: bool) -> None:
    """A tenant's settings, cadence and Pages (each with its effective cadence and latest calendar)."""
    with transaction() as session:
        details = tenant_details(session, tenant_id)
    if as_json:
        emit_json(details)
    else:
        _print_details(details)


@tenant.command("list")
@json_option
def tenant_list(as_json: bool) -> None:
    """List tenants."""
    with transaction() as session:
        rows = [tenant_view(t) for t in session.scalars(select(Tenant).order_by(Tenant.created_at))]
    emit_json(rows) if as_json else emit_table(rows, ["id", "name", "timezone", "auto_publish", "status"])


@tenant.command("pause")
@click.argument("tenant_id")
@json_option
def tenant_pause(tenant_id: str, as_json: bool) -> None:
    """Plan and publish nothing for a tenant; approved posts wait (nothing is lost), posts mid-publish finish."""
    with transaction() as session:
        result = pause_tenant(session, tenant_id)
    if as_json:
        emit_json(result)
    else:
        click.echo(f"tenant {result['id']} paused: {result['approved_waiting']} approved post(s) wait until "
                   f"`socialcal tenant resume`; {result['publishing_now']} being published finish")


@tenant.command("resume")
@click.argument("tenant_id")
@json_option
def tenant_resume(tenant_id: str, as_json: bool) -> None:
    """Plan and publish again; posts that waited while paused are sent now."""
    with transaction() as session:
        result = resume_tenant(session, tenant_id)
    if as_json:
        emit_json(result)
    else:
        click.echo(f"tenant {result['id']} active: {result['released']} waiting post(s) sent")


def _describe(cadence: dict[str, Any]) -> str:
    if "error" in cadence:
        return f"INVALID ({cadence['error']})"
    days = ",".join(DAY_NAMES[d][:3].capitalize() for d in cadence.get("weekdays", []))
    times = cadence.get("times")
    when = (f"best times (fallback {','.join(cadence.get('fallback_times') or [])})" if times == BEST
            else ",".join(times or []))
    return (f"{days} at {when}; at most {cadence.get('posts_per_week')}/week; "
            f"types {','.join(cadence.get('content_types') or [])}; themes {' | '.join(cadence.get('themes') or [])}"
            + (f"; skip {','.join(cadence['skip_dates'])}" if cadence.get("skip_dates") else ""))


def _print_details(details: dict[str, Any]) -> None:
    click.echo(f"{details['name']}  {details['id']}")
    click.echo(f"  status {details['status']}, time zone {details['timezone']}, "
               f"auto-publish {'on' if details['auto_publish'] else 'off'}, {details['held_posts']} held post(s)")
    click.echo(f"  cadence: {_describe(details['cadence'])}")
    rows = []
    for page in details["pages"]:
        latest = page["latest_calendar"] or {}
        rows.append({"integration_id": page["integration_id"], "page_id": page["page_id"],
                     "page_name": page["page_name"], "status": page["status"], "held": page["held_posts"],
                     "override": ",".join(sorted(page["cadence_override"] or {})) or None,
                     "latest": f"{latest['month']} ({latest['slots']} slots)" if latest else None})
    emit_table(rows, ["integration_id", "page_id", "page_name", "status", "held", "override", "latest"])
    for page in details["pages"]:
        if page["cadence_override"] or "error" in page["cadence"]:
            click.echo(f"  {page['page_name'] or page['page_id']}: {_describe(page['cadence'])}")
