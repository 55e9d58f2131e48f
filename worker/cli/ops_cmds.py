"""``socialcal jobs list|show|requeue``: failed work, why it failed, and its replay."""

from __future__ import annotations

from typing import Any

import click
from sqlalchemy import select

from models import FailedJob
from models.db import transaction
from tasks.domain.bulk import DEFAULT_LIMIT, JobFilter, Selection, requeue_each, select_jobs
from tasks.domain.ops_status import Unavailable, check_broker
from worker.cli.output import ID, TimeOrAgo, UserError, dry_run_option, emit_bulk, emit_json, emit_table, json_option
from worker.cli.views import job_view
from worker.core.settings import get_settings

# Exceptions that mean "cannot do it now, nothing changed": one line, no traceback.
USER_ERRORS: tuple[type[BaseException], ...] = (Unavailable,)


@click.group()
def jobs() -> None:
    """Work that failed for good."""


@jobs.command("list")
@click.option("--task", "task_name", help="Only this task name, e.g. publishing.publish_post.")
@click.option("--all", "show_all", is_flag=True, help="Include jobs already requeued.")
@json_option
def jobs_list(task_name: str | None, show_all: bool, as_json: bool) -> None:
    query = select(FailedJob).order_by(FailedJob.created_at.desc())
    if task_name:
        query = query.where(FailedJob.task_name == task_name)
    if not show_all:
        query = query.where(FailedJob.status == "failed")
    with transaction() as session:
        rows = [job_view(j) for j in session.scalars(query)]
    if as_json:
        emit_json(rows)
    else:
        emit_table(rows, ["id", "task_name", "error_class", "error_code", "post_id", "error_message"])


@jobs.command("show")
@click.argument("job_id", type=ID)
@json_option
def jobs_show(job_id: str, as_json: bool) -> None:
    with transaction() as session:
        job = session.get(FailedJob, job_id)
        if job is None:
            raise UserError(f"no failed job {job_id}")
        data = job_view(job)
    if as_json:
        emit_json(data)
    else:
        for key, value in data.items():
            click.echo(f"{key:>14}: {value if value not in (None, [], {}) else '-'}")


@jobs.command("requeue")
@click.argument("job_ids", nargs=-1, type=ID)
@click.option("--task", "task_name", help="Failed jobs of this task, e.g. publishing.publish_post.")
@click.option("--code", help="Failed jobs with this Graph error code (190 also matches 190/463).")
@click.option("--tenant", "tenant_id", type=ID, help="Failed jobs of this tenant.")
@click.option("--since", type=TimeOrAgo(), help="Failed at or after this time (ISO 8601, or an age: 24h, 7d).")
@click.option("--until", type=TimeOrAgo(), help="Failed before this time.")
@click.option("--limit", default=DEFAULT_LIMIT, show_default=True, type=click.IntRange(1, 1_000_000),
              help="Act on at most this many (oldest first); run again for the rest.")
@dry_run_option
@json_option
def jobs_requeue(job_ids: tuple[str, ...], task_name: str | None, code: str | None, tenant_id: str | None,
                 since: Any, until: Any, limit: int, dry_run: bool, as_json: bool) -> None:
    """Replay failed jobs by id or by filter (a failed publish returns to approved and passes the gate again)."""
    job_filter = JobFilter(task_name=task_name, code=code, tenant_id=tenant_id, since=since, until=until)
    if not job_ids and job_filter == JobFilter():
        raise UserError("name job ids, or filter with --task, --code, --tenant, --since or --until")
    if job_ids:
        selection = Selection(len(job_ids), list(job_ids))
    else:
        with transaction() as session:
            selection = select_jobs(session, job_filter, limit=limit)
    if dry_run:
        emit_bulk(selection.as_dict(), None, as_json, "failed job(s)")
        return
    check_broker(get_settings())
    emit_bulk(selection.as_dict(), requeue_each(selection.ids), as_json, "failed job(s)")
