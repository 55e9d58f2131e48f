"""``socialcal posts list|show|cancel|retry``."""

from __future__ import annotations

from typing import Any, Callable

import click
from sqlalchemy import select

from models import PostStatus, SocialPost
from models.db import transaction
from tasks.domain import bulk
from tasks.domain.ops_status import check_broker
from worker.cli.output import ID, UserError, dry_run_option, emit_bulk, emit_json, emit_table, json_option
from worker.cli.views import event_view, post_view
from worker.core.settings import get_settings


@click.group()
def posts() -> None:
    """Posts and their audit trail."""


@posts.command("list")
@click.option("--tenant", "tenant_id", type=ID, help="Only this tenant's posts.")
@click.option("--status", type=click.Choice([s.value for s in PostStatus]), help="Only posts in this status.")
@click.option("--limit", default=200, show_default=True, type=click.IntRange(1, 100_000))
@json_option
def posts_list(tenant_id: str | None, status: str | None, limit: int, as_json: bool) -> None:
    """List posts, soonest first."""
    query = select(SocialPost).order_by(SocialPost.scheduled_at, SocialPost.created_at).limit(limit)
    if tenant_id:
        query = query.where(SocialPost.tenant_id == tenant_id)
    if status:
        query = query.where(SocialPost.status == status)
    with transaction() as session:
        rows = [post_view(p) for p in session.scalars(query)]
    if as_json:
        emit_json(rows)
    else:
        emit_table(rows, ["id", "status", "content_type", "scheduled_at", "external_id", "message"])


@posts.command("show")
@click.argument("post_id", type=ID)
@json_option
def posts_show(post_id: str, as_json: bool) -> None:
    """Show one post with its audit trail."""
    with transaction() as session:
        post = session.get(SocialPost, post_id)
        if post is None:
            raise UserError(f"no post {post_id}")
        data = post_view(post) | {"events": [event_view(e) for e in post.events]}
    if as_json:
        emit_json(data)
        return
    for key, value in data.items():
        if key != "events":
            click.echo(f"{key:>16}: {value if value not in (None, [], {}) else '-'}")
    click.echo("events:")
    for event in data["events"]:
        click.echo(f"  {event['created_at']:%Y-%m-%d %H:%M:%S}  {event['kind']:<18} {event['actor'] or '-':<16} "
                   f"{event['detail'] or ''}")


def _bulk_options(statuses: frozenset[PostStatus], default: str | None = None) -> Any:
    def wrap(func: Any) -> Any:
        func = json_option(dry_run_option(func))
        func = click.option("--limit", default=bulk.DEFAULT_LIMIT, show_default=True,
                            type=click.IntRange(1, 1_000_000), help="Act on at most this many; run again for the rest.")(func)
        func = click.option("--status", required=default is None, default=default,
                            type=click.Choice(sorted(s.value for s in statuses)), help="Only posts in this status.")(func)
        return click.option("--tenant", "tenant_id", required=True, help="The tenant whose posts these are.")(func)
    return wrap


@posts.command("cancel")
@_bulk_options(bulk.CANCELLABLE)
def posts_cancel(tenant_id: str, status: str, limit: int, dry_run: bool, as_json: bool) -> None:
    """Cancel a tenant's posts in one status; posts on the Page are deleted there by a worker."""
    _bulk_on_posts(tenant_id, status, limit, dry_run, as_json, bulk.cancel_each)


@posts.command("retry")
@_bulk_options(bulk.RETRYABLE, default=PostStatus.FAILED.value)
def posts_retry(tenant_id: str, status: str, limit: int, dry_run: bool, as_json: bool) -> None:
    """Retry a tenant's failed posts: back to approved, the gate re-checked, never twice on the Page."""
    _bulk_on_posts(tenant_id, status, limit, dry_run, as_json, bulk.retry_each)


def _bulk_on_posts(tenant_id: str, status: str, limit: int, dry_run: bool, as_json: bool,
                   act: Callable[[list[str]], Any]) -> None:
    """Select a tenant's posts in ``status``; with ``--dry-run`` only count them, else ``act`` on each
    (after checking the broker is there to carry the follow-ups)."""
    with transaction() as session:
        selection = bulk.select_posts(session, tenant_id, status, limit=limit)
    if dry_run:
        emit_bulk(selection.as_dict(), None, as_json, f"{status} post(s)")
        return
    check_broker(get_settings())
    emit_bulk(selection.as_dict(), act(selection.ids), as_json, f"{status} post(s)")
