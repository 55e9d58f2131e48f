"""``socialcal plan``, ``intake``, ``approve`` and ``reject``: the HITL path by hand."""

from __future__ import annotations

import json
import sys
from typing import Any, BinaryIO

import click

from models import SocialPost
from models.db import transaction
from tasks.domain.approval import approve, current_hash, reject
from tasks.domain.errors import BadMessage
from tasks.domain.failed_jobs import record_failed_job
from tasks.domain.intake import IntakeRejected, intake
from tasks.domain.planning import PlanningError, plan_month
from worker.cli.output import ID, UserError, emit_json, json_option
from worker.core.logging import get_logger
from worker.core.queues import TaskName

log = get_logger(__name__)

# Exceptions that mean "the operator asked for something impossible": one line, no traceback.
USER_ERRORS: tuple[type[BaseException], ...] = (PlanningError, BadMessage)


@click.command()
@click.option("--tenant", "tenant_id", required=True, type=ID)
@click.option("--month", required=True, help="YYYY-MM")
@json_option
def plan(tenant_id: str, month: str, as_json: bool) -> None:
    """Plan a month of slots for every active Page of a tenant (re-running changes nothing; a Page
    connected since is planned) and ask the writer for each slot."""
    with transaction() as session:
        result = plan_month(session, tenant_id, month)
    if as_json:
        emit_json(result.as_dict())
        return
    if result.note:
        click.echo(result.note)
    for page in result.pages:
        times = (page.notes or {}).get("times") or {}
        how = f"; times: {times.get('source')} ({', '.join(times.get('chosen') or [])})" if page.created else ""
        click.echo(f"{page.page_name or page.page_id}: {'planned' if page.created else 'already planned'}, "
                   f"{len(page.slot_ids)} slot(s) in calendar {page.calendar_id}{how}")


@click.command("intake")
@click.argument("source", type=click.File("rb"))
@json_option
def intake_cmd(source: BinaryIO, as_json: bool) -> None:
    """Take writer output from FILE (or - for stdin): one payload or a list. Exits 1 if any is invalid.

    Every item is accounted for on its own: a stored post (``invalid`` with its reasons when it cannot
    be published), or a ``failed_jobs`` row when it cannot be attached to a tenant; one bad item never
    loses the others.
    """
    data = read_json(source)
    payloads = data if isinstance(data, list) else [data]
    results = [take_one(payload) for payload in payloads]
    if as_json:
        emit_json(results)
    else:
        for r in results:
            click.echo(f"{r['post_id'] or r.get('failed_job_id') or '-'}  {r['status']}  ({r['outcome']})")
            for reason in r["reasons"]:
                click.echo(f"    - {reason}")
    if any(r["reasons"] for r in results):
        sys.exit(1)


def read_json(source: BinaryIO) -> Any:
    """The file's JSON, or one line saying why it is not JSON (never a traceback)."""
    raw = source.read()
    name = getattr(source, "name", "input")
    try:
        return json.loads(raw)
    except json.JSONDecodeError as error:
        raise UserError(f"{name} is not JSON: {error.msg} at line {error.lineno} column {error.colno}") from None
    except UnicodeDecodeError as error:
        raise UserError(f"{name} is not UTF-8 text (byte {error.start + 1} cannot be read)") from None
    except RecursionError:
        raise UserError(f"{name} nests lists and objects too deeply to read") from None
    except ValueError as error:  # e.g. an integer longer than Python reads
        raise UserError(f"{name} cannot be read as JSON: {str(error).splitlines()[0][:200]}") from None


def take_one(payload: Any) -> dict[str, Any]:
    """One writer output through intake, in its own transaction; how it was accounted for."""
    try:
        with transaction() as session:
            r = intake(session, payload)
        return {"post_id": r.post_id, "status": r.status, "outcome": r.outcome, "reasons": r.reasons}
    except IntakeRejected as error:
        job_id = record_failed_job(task_name=TaskName.INTAKE.value, task_id=None, args=[payload], kwargs={},
                                   error=error)
        return {"post_id": None, "failed_job_id": job_id, "status": "rejected", "outcome": "rejected",
                "reasons": [str(error)]}
    except Exception as error:  # the database refused or failed: say so, keep the payload, go on
        log.warning("intake_item_failed", error_class=type(error).__name__)
        log.debug("intake_item_failed_trace", exc_info=True)
        job_id = record_failed_job(task_name=TaskName.INTAKE.value, task_id=None, args=[payload], kwargs={},
                                   error=error)
        return {"post_id": None, "failed_job_id": job_id, "status": "error", "outcome": "error",
                "reasons": [f"could not be stored ({type(error).__name__}); kept in failed_jobs for "
                            "`socialcal jobs requeue`" if job_id else
                            f"could not be stored ({type(error).__name__}) and the database is unreachable"]}


@click.command("approve")
@click.argument("post_id", type=ID)
@click.option("--by", "approver", required=True, help="Who approves (recorded in the audit trail).")
def approve_cmd(post_id: str, approver: str) -> None:
    """Approve POST as it is now (its current content hash); publishing follows after commit."""
    with transaction() as session:
        post = session.get(SocialPost, post_id)
        if post is None:
            raise UserError(f"no post {post_id}")
        shown = current_hash(post, message=post.pending_message) if post.pending_message else post.content_hash
        decision = approve(session, post_id, approver, shown or "")
    if not decision.accepted:
        raise UserError(f"not approved: {decision.reason}")
    click.echo(f"{post_id} {decision.status}" + (f" ({decision.reason})" if decision.reason else ""))


@click.command("reject")
@click.argument("post_id", type=ID)
@click.option("--by", "approver", required=True)
@click.option("--reason", required=True)
def reject_cmd(post_id: str, approver: str, reason: str) -> None:
    """Reject POST with a reason."""
    with transaction() as session:
        decision = reject(session, post_id, approver, reason)
    if not decision.accepted:
        raise UserError(f"not rejected: {decision.reason}")
    click.echo(f"{post_id} {decision.status}")
