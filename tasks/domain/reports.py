"""The report writer's input: per Page, what happened in a period compared with the one before.

Everything the writer agent needs is in one JSON document so it never queries socialcal: metric
totals and their change, the best posts with their links, the period's anomalies, and — so the
writer does not present a gap as a drop — which data was missing.

Days are Graph's measured days (``end_time`` minus one day), both ends inclusive. Totals are sums,
except for level metrics (``page_follows``, a follower count reported daily) whose "total" is the
last value of the period: summing a level is meaningless.

Values Graph sent as objects (breakdowns, ``page_insights.breakdown``) are not totalled: they are
passed through as they are, by measured day, under ``breakdowns``; such a metric is not listed as
"without data".

The document holds no timestamps of its own, so building it twice from the same rows gives the
same payload; ``report_inputs`` keeps one row per tenant and period (upserted).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from typing import Any, Literal

from sqlalchemy import and_, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from models import (
    InsightAnomaly,
    Integration,
    PageInsight,
    PostMetric,
    PostStatus,
    ReportInput,
    SocialPost,
    Tenant,
    TenantStatus,
    new_id,
    utcnow,
)
from tasks.domain.anomalies import measured_day
from tasks.domain.messaging import enqueue, send_to_agent
from tasks.domain.page_insights import PERIOD, dropped_metrics, resolve_metrics
from worker.core.logging import get_logger
from worker.core.queues import Queue, TaskName

log = get_logger(__name__)

LEVEL_METRICS = frozenset({"page_follows"})
TOP_POSTS = 5
MESSAGE_PREVIEW = 200
PeriodKind = Literal["week", "month"]


# ----------------------------------------------------------------------------- periods


def previous_period(kind: PeriodKind, today: date) -> tuple[date, date]:
    """The last full week (Monday–Sunday) or calendar month before ``today``."""
    if kind == "week":
        end = today - timedelta(days=today.weekday() + 1)
        return end - timedelta(days=6), end
    if kind == "month":
        end = today.replace(day=1) - timedelta(days=1)
        return end.replace(day=1), end
    raise ValueError(f"period must be week or month, not {kind!r}")


def preceding(start: date, end: date) -> tuple[date, date]:
    """The period of the same length just before [start, end]."""
    length = (end - start).days + 1
    return start - timedelta(days=length), start - timedelta(days=1)


def _days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=n) for n in range((end - start).days + 1)]


def _utc(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=timezone.utc)


# ----------------------------------------------------------------------------- metrics


def metric_values(session: Session, integration_id: str, start: date, end: date) -> dict[str, dict[date, float | None]]:
    """{metric: {measured day: value}} for measured days in [start, end]."""
    rows = session.execute(
        select(PageInsight.metric, PageInsight.end_time, PageInsight.value).where(
            PageInsight.integration_id == integration_id, PageInsight.period == PERIOD,
            PageInsight.end_time >= _utc(start + timedelta(days=1)),
            PageInsight.end_time < _utc(end + timedelta(days=2)),
        )
    )
    values: dict[str, dict[date, float | None]] = {}
    for metric, end_time, value in rows:
        day = measured_day(end_time)
        if start <= day <= end:
            values.setdefault(metric, {})[day] = value
    return values


def metric_breakdowns(session: Session, integration_id: str, start: date, end: date) -> dict[str, dict[str, Any]]:
    """{metric: {measured day (ISO): the object Graph sent}} for measured days in [start, end]."""
    rows = session.execute(
        select(PageInsight.metric, PageInsight.end_time, PageInsight.breakdown).where(
            PageInsight.integration_id == integration_id, PageInsight.period == PERIOD,
            PageInsight.breakdown.is_not(None),
            PageInsight.end_time >= _utc(start + timedelta(days=1)),
            PageInsight.end_time < _utc(end + timedelta(days=2)),
        ).order_by(PageInsight.metric, PageInsight.end_time)
    )
    out: dict[str, dict[str, Any]] = {}
    for metric, end_time, breakdown in rows:
        day = measured_day(end_time)
        if start <= day <= end:
            out.setdefault(metric, {})[day.isoformat()] = breakdown
    return out


def aggregate(metric: str, by_day: dict[date, float | None]) -> float | None:
    """Sum of the known values, or the last known value for a level metric; None without data."""
    known = sorted((day, value) for day, value in by_day.items() if value is not None)
    if not known:
        return None
    if metric in LEVEL_METRICS:
        return known[-1][1]
    return sum(value for _day, value in known)


def change(current: float | None, previous: float | None) -> tuple[float | None, float | None]:
    """(absolute, percent) change; None when either side has no data (percent also when previous is 0)."""
    if current is None or previous is None:
        return None, None
    absolute = current - previous
    return absolute, (round(absolute / previous * 100.0, 2) if previous else None)


def metric_summary(metric: str, current: dict[date, float | None], previous: dict[date, float | None],
                   days: list[date]) -> dict[str, Any]:
    total, before = aggregate(metric, current), aggregate(metric, previous)
    absolute, percent = change(total, before)
    return {
        "aggregation": "last" if metric in LEVEL_METRICS else "sum",
        "total": total,
        "previous_total": before,
        "change": absolute,
        "change_percent": percent,
        "days_with_data": sum(1 for day in days if current.get(day) is not None),
        "missing_days": [day.isoformat() for day in days if current.get(day) is None],
    }


# ----------------------------------------------------------------------------- posts and anomalies


def top_posts(session: Session, integration_id: str, start: date, end: date,
              limit: int = TOP_POSTS) -> tuple[list[dict[str, Any]], int]:
    """Posts of the period by engagement (reactions + comments + shares of the latest reading), and
    how many posts of the period have no reading at all."""
    since, until = _utc(start), _utc(end + timedelta(days=1))
    posts = list(session.scalars(select(SocialPost).where(
        SocialPost.integration_id == integration_id, SocialPost.external_id.is_not(None),
        or_(and_(SocialPost.status == PostStatus.PUBLISHED, SocialPost.published_at >= since,
                 SocialPost.published_at < until),
            and_(SocialPost.status == PostStatus.SCHEDULED, SocialPost.scheduled_at >= since,
                 SocialPost.scheduled_at < until)),
    )))
    latest: dict[str, PostMetric] = {}
    if posts:
        for reading in session.scalars(select(PostMetric).where(PostMetric.post_id.in_([p.id for p in posts]))
                                       .order_by(PostMetric.read_at)):
            latest[reading.post_id] = reading
    ranked = []
    for post in posts:
        reading = latest.get(post.id)
        if reading is None:
            continue
        parts = [reading.reactions, reading.comments, reading.shares]
        known = [p for p in parts if p is not None]
        ranked.append({
            "post_id": post.id, "external_id": post.external_id, "publish_url": post.publish_url,
            "published_at": (post.published_at or post.scheduled_at).isoformat()
            if (post.published_at or post.scheduled_at) else None,
            "content_type": post.content_type, "message": (post.message or "")[:MESSAGE_PREVIEW],
            "reactions": reading.reactions, "comments": reading.comments, "shares": reading.shares,
            "media_views": reading.media_views, "engagement": sum(known) if known else None,
            "read_at": reading.read_at.isoformat(),
        })
    ranked.sort(key=lambda p: (p["engagement"] is None, -(p["engagement"] or 0), p["post_id"]))
    return ranked[:limit], len(posts) - len(ranked)


def period_anomalies(session: Session, integration_id: str, start: date, end: date) -> list[dict[str, Any]]:
    rows = session.scalars(select(InsightAnomaly).where(
        InsightAnomaly.integration_id == integration_id, InsightAnomaly.day >= start, InsightAnomaly.day <= end,
    ).order_by(InsightAnomaly.day, InsightAnomaly.metric))
    return [{"metric": a.metric, "day": a.day.isoformat(), "value": a.value, "expected": a.expected,
             "score": a.score, "direction": a.direction} for a in rows]


# ----------------------------------------------------------------------------- the document


def page_report(session: Session, tenant: Tenant, integration: Integration, start: date, end: date) -> dict[str, Any]:
    before_start, before_end = preceding(start, end)
    current = metric_values(session, integration.id, start, end)
    previous = metric_values(session, integration.id, before_start, before_end)
    configured = resolve_metrics(tenant.insight_metrics, dropped_metrics(integration))
    metrics = configured + sorted((set(current) | set(previous)) - set(configured))
    days = _days(start, end)
    summaries = {m: metric_summary(m, current.get(m, {}), previous.get(m, {}), days) for m in metrics}
    posts, posts_without_metrics = top_posts(session, integration.id, start, end)
    breakdowns = metric_breakdowns(session, integration.id, start, end)
    return {
        "integration_id": integration.id,
        "page_id": integration.page_id,
        "page_name": integration.meta.get("pageName"),
        "status": integration.status,
        "metrics": summaries,
        "breakdowns": breakdowns,
        "top_posts": posts,
        "anomalies": period_anomalies(session, integration.id, start, end),
        "missing": {
            "metrics_without_data": [m for m, s in summaries.items() if s["total"] is None and m not in breakdowns],
            "metrics_with_missing_days": sorted(m for m, s in summaries.items()
                                                if s["missing_days"] and s["total"] is not None),
            "dropped_metrics": dropped_metrics(integration),
            "posts_without_metrics": posts_without_metrics,
        },
    }


def report_payload(session: Session, tenant: Tenant, start: date, end: date) -> dict[str, Any]:
    before_start, before_end = preceding(start, end)
    integrations = session.scalars(select(Integration).where(
        Integration.tenant_id == tenant.id, Integration.provider == "facebook").order_by(Integration.created_at,
                                                                                         Integration.id))
    return {
        "tenant_id": tenant.id,
        "tenant_name": tenant.name,
        "period": {"start": start.isoformat(), "end": end.isoformat(), "days": (end - start).days + 1},
        "previous_period": {"start": before_start.isoformat(), "end": before_end.isoformat()},
        "pages": [page_report(session, tenant, integration, start, end) for integration in integrations],
    }


def _upsert(session: Session, tenant_id: str, start: date, end: date, payload: dict[str, Any]) -> str:
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    now = utcnow()
    statement = insert(ReportInput).values(id=new_id(), tenant_id=tenant_id, period_start=start, period_end=end,
                                           payload=payload, created_at=now, updated_at=now)
    statement = statement.on_conflict_do_update(
        index_elements=["tenant_id", "period_start", "period_end"],
        set_={"payload": statement.excluded.payload, "updated_at": statement.excluded.updated_at},
    ).returning(ReportInput.id)
    return str(session.execute(statement).scalar_one())


def build_report_input(session: Session, tenant_id: str, start: date, end: date,
                       *, notify: bool = True) -> tuple[str, dict[str, Any]] | None:
    """Build, store (one row per tenant and period) and send to the report writer; returns
    (report_inputs id, payload), or None when the tenant does not exist."""
    if end < start:
        raise ValueError("period_end is before period_start")
    tenant = session.get(Tenant, tenant_id)
    if tenant is None:
        return None
    payload = report_payload(session, tenant, start, end)
    report_id = _upsert(session, tenant_id, start, end, payload)
    if notify:
        send_to_agent(session, Queue.AGENT_REPORT_WRITER, {"report_input_id": report_id, **payload})
    log.info("report_input_built", tenant_id=tenant_id, period_start=start.isoformat(), period_end=end.isoformat(),
             pages=len(payload["pages"]))
    return report_id, payload


def active_tenant_ids(session: Session) -> list[str]:
    return list(session.scalars(select(Tenant.id).where(Tenant.status == TenantStatus.ACTIVE).order_by(Tenant.id)))


def fan_out_reports(session: Session, kind: PeriodKind, today: date) -> tuple[date, date, int]:
    """Beat: one ``analysis.build_report_input`` for the previous full ``kind`` of every active tenant.

    Returns (period start, period end, tenants).
    """
    start, end = previous_period(kind, today)
    tenant_ids = active_tenant_ids(session)
    for tenant_id in tenant_ids:
        enqueue(session, TaskName.BUILD_REPORT_INPUT, tenant_id, start.isoformat(), end.isoformat(),
                queue=Queue.INSIGHTS.value)
    return start, end, len(tenant_ids)
