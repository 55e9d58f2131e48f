"""Celery shells for anomaly detection and the report writer feed (logic: ``tasks.domain.anomalies``
and ``tasks.domain.reports``)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from celery import shared_task

from tasks.base import SocialcalTask
from tasks.domain import anomalies, reports
from tasks.domain.arguments import require_iso_date, require_uuid
from tasks.domain.errors import BadMessage
from worker.core.logging import bind_log_context, get_logger
from worker.core.queues import TaskName
from worker.core.settings import get_settings

log = get_logger(__name__)


@shared_task(name=TaskName.DETECT_ANOMALIES.value, base=SocialcalTask, bind=True)
def detect_anomalies_task(self: SocialcalTask, integration_id: Any, **_unknown: Any) -> dict[str, Any]:
    integration_id = require_uuid(integration_id, "integration_id")
    bind_log_context(integration_id=integration_id)
    with self.transaction() as session:
        found = anomalies.detect_anomalies(session, integration_id, threshold=get_settings().anomaly_threshold)
    log.info("anomalies_detected", new=len(found))
    return {"new": len(found)}


@shared_task(name=TaskName.BUILD_REPORT_INPUT.value, base=SocialcalTask, bind=True)
def build_report_input_task(self: SocialcalTask, tenant_id: Any, period_start: Any, period_end: Any,
                            **_unknown: Any) -> dict[str, Any]:
    tenant_id = require_uuid(tenant_id, "tenant_id")
    start, end = require_iso_date(period_start, "period_start"), require_iso_date(period_end, "period_end")
    if end < start:
        raise BadMessage("period_end is before period_start")
    bind_log_context(tenant_id=tenant_id)
    with self.transaction() as session:
        built = reports.build_report_input(session, tenant_id, start, end)
    if built is None:
        log.warning("report_input_tenant_missing")
        return {"report_input_id": None}
    return {"report_input_id": built[0]}


@shared_task(name=TaskName.BUILD_ALL_REPORTS.value, base=SocialcalTask, bind=True)
def build_all_reports_task(self: SocialcalTask, period: Any = "week", **_unknown: Any) -> dict[str, Any]:
    """Beat: the previous full week (or month) for every active tenant, one task each."""
    if period not in ("week", "month"):
        raise BadMessage("period: expected 'week' or 'month'")
    with self.transaction() as session:
        start, end, tenants = reports.fan_out_reports(session, period, datetime.now(timezone.utc).date())
    log.info("report_inputs_fanned_out", period=period, period_start=start.isoformat(), tenants=tenants)
    return {"tenants": tenants, "period_start": start.isoformat(), "period_end": end.isoformat()}
