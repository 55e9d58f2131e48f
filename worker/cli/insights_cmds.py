"""``socialcal insights pull|show``: run the insights pipeline in-process and look at what it stored.

``pull`` calls the same plain functions the Celery tasks call (page insights, post metrics, anomaly
detection), synchronously and without the broker, so an operator can fill the tables and see the
result at once — against Meta or ``socialcal sandbox``. Graph calls still draw from the shared
budget, so running it next to busy workers cannot push a token past Meta's limits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any

import click
from sqlalchemy import select

from graph.errors import GraphError
from models import InsightAnomaly, Integration, PageInsight, Tenant
from models.db import transaction
from tasks.domain.anomalies import detect_anomalies, measured_day
from tasks.domain.page_insights import pull_page_insights, skip_reason
from tasks.domain.post_metrics import sync_post_metrics
from worker.cli.output import ID, UserError, emit_json, emit_table, json_option
from worker.core.settings import get_settings


@click.group()
def insights() -> None:
    """Page insights, post metrics and anomalies."""


@dataclass
class Summary:
    pages: int = 0
    skipped: int = 0
    failed: int = 0
    rows: int = 0
    post_metrics: int = 0
    anomalies: int = 0
    calls: int = 0
    results: list[dict[str, Any]] = field(default_factory=list)


def _targets(tenant_id: str | None) -> list[tuple[Integration, str | None]]:
    """(integration, reason to skip or None) for every Facebook Page, or one tenant's."""
    with transaction() as session:
        if tenant_id and session.get(Tenant, tenant_id) is None:
            raise UserError(f"no tenant {tenant_id}")
        query = select(Integration).where(Integration.provider == "facebook").order_by(Integration.tenant_id,
                                                                                      Integration.created_at)
        if tenant_id:
            query = query.where(Integration.tenant_id == tenant_id)
        return [(i, skip_reason(i, session.get(Tenant, i.tenant_id))) for i in session.scalars(query)]


def _pull_one(integration: Integration, days: int | None, notify: bool) -> dict[str, Any]:
    pulled = pull_page_insights(integration.id, days=days)
    posts = sync_post_metrics(integration.id)
    with transaction() as session:
        found = detect_anomalies(session, integration.id, threshold=get_settings().anomaly_threshold, notify=notify)
    return {
        "integration_id": integration.id, "page_id": integration.page_id, "rows": pulled.rows,
        "changed": pulled.changed, "dropped": pulled.dropped, "post_metrics": posts.rows,
        "calls": pulled.calls + posts.calls,
        "anomalies": [{"metric": f.metric, "day": f.day.isoformat(), "direction": f.direction, "score": f.score}
                      for f in found],
    }


@insights.command("pull")
@click.option("--tenant", "tenant_id", type=ID, help="Only this tenant's Pages.")
@click.option("--days", type=click.IntRange(1, 3650),
              help="Re-read the last N days (default: a backfill on the first pull, then from the last stored day).")
@click.option("--notify/--no-notify", default=True, show_default=True,
              help="Send new anomalies to the anomaly detector's queue.")
@json_option
def insights_pull(tenant_id: str | None, days: int | None, notify: bool, as_json: bool) -> None:
    """Pull insights and post metrics now, then look for anomalies; one line per Page."""
    summary = Summary()
    for integration, reason in _targets(tenant_id):
        label = f"{integration.meta.get('pageName') or '-'} ({integration.page_id})"
        if reason is not None:
            summary.skipped += 1
            summary.results.append({"integration_id": integration.id, "skipped": reason})
            if not as_json:
                click.echo(f"{label}: skipped ({reason})")
            continue
        try:
            result = _pull_one(integration, days, notify)
        except GraphError as error:
            summary.failed += 1
            summary.results.append({"integration_id": integration.id, "error": str(error)})
            if not as_json:
                click.echo(f"{label}: failed: {error}", err=True)
            continue
        summary.pages += 1
        summary.rows += result["rows"]
        summary.post_metrics += result["post_metrics"]
        summary.anomalies += len(result["anomalies"])
        summary.calls += result["calls"]
        summary.results.append(result)
        if not as_json:
            found = ", ".join(f"{a['metric']} {a['direction']} on {a['day']}" for a in result["anomalies"])
            dropped = f", dropped {', '.join(result['dropped'])}" if result["dropped"] else ""
            click.echo(f"{label}: {result['rows']} rows ({result['changed']} new or changed), "
                       f"{result['post_metrics']} post readings, {result['calls']} Graph calls{dropped}"
                       + (f"; anomalies: {found}" if found else ""))
    if as_json:
        emit_json(dict(summary.__dict__))
        return
    click.echo(f"pages: {summary.pages} pulled, {summary.skipped} skipped, {summary.failed} failed; "
               f"rows: {summary.rows}; post readings: {summary.post_metrics}; "
               f"anomalies found: {summary.anomalies}; Graph calls: {summary.calls}")
    if summary.failed:
        raise SystemExit(1)


@insights.command("show")
@click.option("--tenant", "tenant_id", required=True, type=ID)
@click.option("--metric", help="Only this metric.")
@click.option("--days", default=28, show_default=True, type=click.IntRange(1, 3650), help="How many days back.")
@json_option
def insights_show(tenant_id: str, metric: str | None, days: int, as_json: bool) -> None:
    """Stored daily values per Page and metric, flagged days marked."""
    since = datetime.now(timezone.utc).date() - timedelta(days=days)
    with transaction() as session:
        if session.get(Tenant, tenant_id) is None:
            raise UserError(f"no tenant {tenant_id}")
        pages = {i.id: i.page_id for i in session.scalars(select(Integration).where(Integration.tenant_id == tenant_id))}
        query = (select(PageInsight).where(PageInsight.integration_id.in_(pages),
                                           PageInsight.end_time > datetime.combine(since, datetime.min.time(),
                                                                                   timezone.utc))
                 .order_by(PageInsight.integration_id, PageInsight.metric, PageInsight.end_time))
        anomalies_query = select(InsightAnomaly).where(InsightAnomaly.tenant_id == tenant_id,
                                                       InsightAnomaly.day >= since)
        if metric:
            query = query.where(PageInsight.metric == metric)
            anomalies_query = anomalies_query.where(InsightAnomaly.metric == metric)
        flagged: dict[tuple[str, str, date], InsightAnomaly] = {
            (a.integration_id, a.metric, a.day): a for a in session.scalars(anomalies_query)}
        rows = []
        for insight in session.scalars(query):
            day = measured_day(insight.end_time)
            anomaly = flagged.get((insight.integration_id, insight.metric, day))
            rows.append({"page_id": pages[insight.integration_id], "integration_id": insight.integration_id,
                         "metric": insight.metric, "day": day, "value": insight.value,
                         "anomaly": f"{anomaly.direction} (score {anomaly.score:.1f}, expected {anomaly.expected:.0f})"
                         if anomaly else None})
    if as_json:
        emit_json(rows)
    else:
        emit_table(rows, ["page_id", "metric", "day", "value", "anomaly"])
