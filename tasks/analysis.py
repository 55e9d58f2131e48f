"""Celery tasks for anomaly detection and the report writer feed: thin wrappers over
``tasks.anomalies`` and ``tasks.reports``."""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any

from tasks.anomalies import detect_anomalies as detect_for_page
from tasks.reports import active_tenant_ids, build_report_input as build_for_tenant, previous_period
from worker.app import app
from worker.base import BadMessage, SocialcalTask, bind, enqueue, require_uuid
from worker.logging import get_logger
from worker.queues import Queue
from worker.settings import get_settings

log = get_logger(__name__)


def _iso_date(value: Any, field: str) -> date:
    if not isinstance(value, str):
        raise BadMessage(f"{field}: expected an ISO date string")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise BadMessage(f"{field}: not an ISO date") from None


@app.task(name="analysis.detect_anomalies", base=SocialcalTask, bind=True)
def detect_anomalies(self: SocialcalTask, integration_id: Any, **_unknown: Any) -> dict[str, Any]:
    integration_id = require_uuid(integration_id, "integration_id")
    bind(integration_id=integration_id)
    with self.transaction() as session:
        found = detect_for_page(session, integration_id, threshold=get_settings().anomaly_threshold)
    log.info("anomalies_detected", new=len(found))
    return {"new": len(found)}


@app.task(name="analysis.build_report_input", base=SocialcalTask, bind=True)
def build_report_input(self: SocialcalTask, tenant_id: Any, period_start: Any, period_end: Any,
                       **_unknown: Any) -> dict[str, Any]:
    tenant_id = require_uuid(tenant_id, "tenant_id")
    start, end = _iso_date(period_start, "period_start"), _iso_date(period_end, "period_end")
    if end < start:
        raise BadMessage("period_end is before period_start")
    bind(tenant_id=tenant_id)
    with self.transaction() as session:
        built = build_for_tenant(session, tenant_id, start, end)
    if built is None:
        log.warning("report_input_tenant_missing")
        return {"report_input_id": None}
    return {"report_input_id": built[0]}


@app.task(name="analysis.build_all_reports", base=SocialcalTask, bind=True)
def build_all_reports(self: SocialcalTask, period: Any = "week", **_unknown: Any) -> dict[str, Any]:
    """Beat: the previous full week (or month) for every active tenant, one task each."""
    if period not in ("week", "month"):
        raise BadMessage("period: expected 'week' or 'month'")
    start, end = previous_period(period, datetime.now(timezone.utc).date())
    with self.transaction() as session:
        tenant_ids = active_tenant_ids(session)
        for tenant_id in tenant_ids:
            enqueue(session, "analysis.build_report_input", tenant_id, start.isoformat(), end.isoformat(),
                    queue=Queue.INSIGHTS.value)
    log.info("report_inputs_fanned_out", period=period, period_start=start.isoformat(), tenants=len(tenant_ids))
    return {"tenants": len(tenant_ids), "period_start": start.isoformat(), "period_end": end.isoformat()}
