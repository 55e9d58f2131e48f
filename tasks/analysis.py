"""Celery shells for anomaly detection and the report writer feed (logic: ``tasks.domain.anomalies``
and ``tasks.domain.reports``)."""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any

from celery import shared_task

from tasks.base import SocialcalTask
from tasks.domain import anomalies, reports
from worker.core.logging import bind_log_context, get_logger
from worker.core.queues import TaskName
from worker.core.settings import get_settings

log = get_logger(__name__)


@shared_task(name=TaskName.DETECT_ANOMALIES.value, base=SocialcalTask, bind=True)
def detect_anomalies_task(self: SocialcalTask, integration_id: str, **_unknown: Any) -> dict[str, Any]:
    bind_log_context(integration_id=integration_id)
    with self.transaction() as session:
        found = anomalies.detect_anomalies(session, integration_id, threshold=get_settings().anomaly_threshold)
    log.info("anomalies_detected", new=len(found))
    return {"new": len(found)}


@shared_task(name=TaskName.BUILD_REPORT_INPUT.value, base=SocialcalTask, bind=True)
def build_report_input_task(self: SocialcalTask, tenant_id: str, period_start: date, period_end: date,
                            **_unknown: Any) -> dict[str, Any]:
    bind_log_context(tenant_id=tenant_id)
    with self.transaction() as session:
        built = reports.build_report_input(session, tenant_id, period_start, period_end)
    if built is None:
        log.warning("report_input_tenant_missing")
        return {"report_input_id": None}
    return {"report_input_id": built[0]}


@shared_task(name=TaskName.BUILD_ALL_REPORTS.value, base=SocialcalTask, bind=True)
def build_all_reports_task(self: SocialcalTask, period: str = "week", **_unknown: Any) -> dict[str, Any]:
    """Beat: the previous full week (or month) for every active tenant, one task each."""
    with self.transaction() as session:
        start, end, tenants = reports.fan_out_reports(session, period, datetime.now(timezone.utc).date())
    log.info("report_inputs_fanned_out", period=period, period_start=start.isoformat(), tenants=tenants)
    return {"tenants": tenants, "period_start": start.isoformat(), "period_end": end.isoformat()}
