"""``socialcal jobs list|show|requeue``: failed work, why it failed, and its replay."""

from __future__ import annotations

import click
from sqlalchemy import select

from models import FailedJob
from models.db import transaction
from tasks.domain.requeue import requeue
from worker.cli.output import ID, UserError, emit_json, emit_table, json_option
from worker.cli.views import job_view


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
@click.option("--task", "task_name", help="Requeue every failed job of this task.")
@json_option
def jobs_requeue(job_ids: tuple[str, ...], task_name: str | None, as_json: bool) -> None:
    """Replay failed jobs (a failed publish returns to approved and passes the gate again)."""
    with transaction() as session:
        ids = list(job_ids)
        if task_name:
            ids += session.scalars(select(FailedJob.id).where(FailedJob.task_name == task_name,
                                                              FailedJob.status == "failed")).all()
    if not ids:
        raise UserError("name a job id or --task")
    results = []
    for job_id in ids:
        with transaction() as session:
            results.append(requeue(session, job_id).__dict__)
    if as_json:
        emit_json(results)
    else:
        for r in results:
            click.echo(f"{r['job_id']}  {r['task_name']}  {r['note']}")
