"""``socialcal plan``, ``intake``, ``approve`` and ``reject``: the HITL path by hand."""

from __future__ import annotations

import json
import sys
from typing import Any, TextIO

import click

from models import SocialPost
from models.db import transaction
from tasks.domain.approval import approve, current_hash, reject
from tasks.domain.errors import BadMessage
from tasks.domain.intake import IntakeRejected, intake
from tasks.domain.planning import PlanningError, plan_month
from worker.cli.output import UserError, emit_json, json_option

# Exceptions that mean "the operator asked for something impossible": one line, no traceback.
USER_ERRORS: tuple[type[BaseException], ...] = (PlanningError, BadMessage)


@click.command()
@click.option("--tenant", "tenant_id", required=True)
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
@click.argument("source", type=click.File("r"))
@json_option
def intake_cmd(source: TextIO, as_json: bool) -> None:
    """Take writer output from FILE (or - for stdin): one payload or a list. Exits 1 if any is invalid."""
    try:
        data = json.load(source)
    except json.JSONDecodeError as error:
        raise UserError(f"{source.name} is not JSON: {error}") from None
    payloads = data if isinstance(data, list) else [data]
    results: list[dict[str, Any]] = []
    for payload in payloads:
        try:
            with transaction() as session:
                r = intake(session, payload)
            results.append({"post_id": r.post_id, "status": r.status, "outcome": r.outcome, "reasons": r.reasons})
        except IntakeRejected as error:
            results.append({"post_id": None, "status": "rejected", "outcome": "rejected", "reasons": [str(error)]})
    if as_json:
        emit_json(results)
    else:
        for r in results:
            click.echo(f"{r['post_id'] or '-'}  {r['status']}  ({r['outcome']})")
            for reason in r["reasons"]:
                click.echo(f"    - {reason}")
    if any(r["reasons"] for r in results):
        sys.exit(1)


@click.command("approve")
@click.argument("post_id")
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
@click.argument("post_id")
@click.option("--by", "approver", required=True)
@click.option("--reason", required=True)
def reject_cmd(post_id: str, approver: str, reason: str) -> None:
    """Reject POST with a reason."""
    with transaction() as session:
        decision = reject(session, post_id, approver, reason)
    if not decision.accepted:
        raise UserError(f"not rejected: {decision.reason}")
    click.echo(f"{post_id} {decision.status}")
