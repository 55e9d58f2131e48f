"""Page insights pulls: which metrics, which days, one request per range, idempotent upserts.

A pull runs in three phases so that no database transaction stays open across HTTP calls (on
SQLite a write transaction holds the database's only write lock; publishing must not wait behind a
slow Graph response):

1. ``plan_pull`` (short transaction) — is the Page eligible, which metrics, which date ranges;
2. ``fetch_insights`` (no transaction) — every metric of a range in ONE request; a metric Meta
   rejects as invalid is dropped and the rest is still pulled;
3. ``store_insights`` (short transaction) — upsert the values, remember dropped metrics.

``pull_page_insights`` chains the three for the Celery task and the CLI; ``queue_follow_ups`` is what
a stored pull asks for next. The daily fan-out over every Page is ``tasks.domain.fanout``.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any, Callable, Iterable, Sequence

import structlog
from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from graph.client import GraphClient, InsightSeries
from graph.errors import InvalidRequest, NotFound, RequestTooLarge
from models import Integration, IntegrationStatus, PageInsight, Tenant, TenantStatus
from models.db import transaction
from tasks.domain.clients import client_for_integration
from tasks.domain.messaging import enqueue
from worker.core.queues import Queue, TaskName
from worker.core.settings import Settings, get_settings

log = structlog.get_logger(__name__)

DEFAULT_METRICS: tuple[str, ...] = (
    "page_media_view",
    "page_total_media_view_unique",
    "page_post_engagements",
    "page_follows",
    "page_daily_follows_unique",
    "page_daily_unfollows_unique",
    "page_video_views",
    "page_total_actions",
)
# Retired by Meta (2025-06-15 / 2025-11-15): asking for them is an error 100.
DEPRECATED_METRICS: dict[str, str] = {
    "page_impressions": "page_media_view",
    "page_fans": "page_follows",
    "page_engaged_users": "page_post_engagements",
    "page_fan_adds": "page_daily_follows_unique",
    "page_fan_removes": "page_daily_unfollows_unique",
    "page_impressions_unique": "page_total_media_view_unique",
}
PERIOD = "day"
# Meta revises the last days' figures; every incremental pull re-reads them.
OVERLAP_DAYS = 3
MAX_RANGE_DAYS = 90
DROPPED_KEY = "droppedMetrics"
# Rows per INSERT statement: well under SQLite's and PostgreSQL's bound-parameter limits.
UPSERT_CHUNK = 500
# Object values whose parts Meta documents as a partition of one total, so that the sum is the
# metric's number: metric -> the keys to add. Empty on purpose: no current Page metric was found
# documented that way (graph-research.md J). Meta's own example, page_video_views_by_uploaded_hosted,
# has overlapping keys explained by equations (developers.facebook.com/blog/post/2023/04/12/
# introducing-new-metric-to-the-page-insights-api/), and Meta warns that "Total page reach may not
# always be exactly equal to the sum of paid and non-paid unique values" (reference/insights,
# Limitations). Every other object is kept whole in page_insights.breakdown.
SUMMABLE_BREAKDOWNS: dict[str, tuple[str, ...]] = {}
MAX_BREAKDOWN_BYTES = 65536  # an object larger than this keeps only its key names

ClientFactory = Callable[[Integration], GraphClient]


@dataclass(frozen=True)
class PullPlan:
    """What one pull will ask Graph for. Holds no token: the client is built from the integration."""

    integration: Integration
    metrics: tuple[str, ...]
    ranges: tuple[tuple[date, date], ...]

    @property
    def integration_id(self) -> str:
        return self.integration.id


@dataclass
class Fetched:
    """What Graph returned for a plan: series by metric, metrics it rejected, requests sent."""

    series: dict[str, InsightSeries] = field(default_factory=dict)
    dropped: list[str] = field(default_factory=list)
    calls: int = 0


@dataclass
class PullResult:
    """The outcome of one Page's pull, small enough to log and to print in the CLI summary."""

    integration_id: str
    page_id: str = ""
    metrics: list[str] = field(default_factory=list)
    ranges: list[tuple[date, date]] = field(default_factory=list)
    rows: int = 0  # values received and upserted
    changed: int = 0  # rows inserted or whose value changed (0 on an identical re-run)
    calls: int = 0  # Graph requests sent
    dropped: list[str] = field(default_factory=list)  # metrics dropped on this pull
    skipped: str | None = None  # why nothing was pulled (missing, needs_reconnect, tenant paused)

    @property
    def ok(self) -> bool:
        return self.skipped is None


# ----------------------------------------------------------------------------- metric set


def resolve_metrics(configured: Sequence[Any] | None, dropped: Iterable[str] = ()) -> list[str]:
    """The metrics to pull: the tenant's list (or the default set), deprecated names mapped to their
    replacements, duplicates and this Page's dropped metrics removed, order kept."""
    names: Sequence[Any] = DEFAULT_METRICS if configured is None else configured
    gone = set(dropped)
    resolved: list[str] = []
    for name in names:
        if not isinstance(name, str) or not name.strip():
            log.warning("insights_metric_ignored", metric=repr(name)[:80], reason="not a metric name")
            continue
        name = name.strip()
        replacement = DEPRECATED_METRICS.get(name)
        if replacement:
            log.warning("insights_metric_deprecated", metric=name, replacement=replacement)
            name = replacement
        if name not in gone and name not in resolved:
            resolved.append(name)
    return resolved


def dropped_metrics(integration: Integration) -> list[str]:
    value = (integration.meta or {}).get(DROPPED_KEY)
    return [str(m) for m in value] if isinstance(value, list) else []


# ----------------------------------------------------------------------------- planning


def split_ranges(since: date, until: date, max_days: int = MAX_RANGE_DAYS) -> list[tuple[date, date]]:
    """[since, until) in consecutive ranges of at most ``max_days`` (what one request may cover)."""
    ranges = []
    start = since
    while start < until:
        end = min(start + timedelta(days=max_days), until)
        ranges.append((start, end))
        start = end
    return ranges


def last_end_time(session: Session, integration_id: str) -> datetime | None:
    return session.scalar(
        select(func.max(PageInsight.end_time))
        .where(PageInsight.integration_id == integration_id, PageInsight.period == PERIOD)
    )


def plan_since(last: datetime | None, today: date, *, backfill_days: int, days: int | None = None,
               overlap_days: int = OVERLAP_DAYS) -> date:
    """First day to ask for: ``days`` back when forced, a backfill on the first pull, else the last
    stored ``end_time`` minus an overlap (never later than ``today - overlap``)."""
    if days is not None:
        return today - timedelta(days=days)
    if last is None:
        return today - timedelta(days=backfill_days)
    return min(last.astimezone(timezone.utc).date(), today) - timedelta(days=overlap_days)


def skip_reason(integration: Integration | None, tenant: Tenant | None) -> str | None:
    if integration is None:
        return "missing"
    if integration.status != IntegrationStatus.ACTIVE:
        return f"integration {integration.status}"
    if tenant is None or tenant.status != TenantStatus.ACTIVE:
        return "tenant not active"
    return None


def plan_pull(session: Session, integration_id: str, *, today: date, settings: Settings,
              days: int | None = None) -> PullPlan | PullResult:
    """The plan for one Page, or a skipped ``PullResult`` saying why there is nothing to pull."""
    integration = session.get(Integration, integration_id)
    tenant = session.get(Tenant, integration.tenant_id) if integration is not None else None
    reason = skip_reason(integration, tenant)
    if reason is not None:
        return PullResult(integration_id=integration_id, skipped=reason)
    assert integration is not None and tenant is not None
    metrics = resolve_metrics(tenant.insight_metrics, dropped_metrics(integration))
    since = plan_since(last_end_time(session, integration_id), today,
                       backfill_days=settings.insights_backfill_days, days=days)
    return PullPlan(integration=integration, metrics=tuple(metrics), ranges=tuple(split_ranges(since, today)))


# ----------------------------------------------------------------------------- fetching


def _named_metric(message: str, metrics: Sequence[str]) -> str | None:
    """The one requested metric Graph's message names (whole word), if exactly one is named."""
    named = [m for m in metrics if re.search(rf"(?<![A-Za-z0-9_]){re.escape(m)}(?![A-Za-z0-9_])", message)]
    return named[0] if len(named) == 1 else None


def _is_metric_rejection(error: InvalidRequest, metrics: Sequence[str]) -> bool:
    """Code 100 on a multi-metric request may be any one metric; on a single metric only when the
    message is about metrics, so a bad ``since`` (also 100) fails the pull instead of emptying the set."""
    if error.code != 100 or isinstance(error, NotFound):
        return False
    message = error.graph_message.lower()
    return len(metrics) > 1 or "metric" in message or _named_metric(error.graph_message, metrics) is not None


def _fetch_range(client: GraphClient, page_id: str, metrics: list[str], since: date, until: date,
                 dropped: list[str]) -> dict[str, InsightSeries]:
    """One request for every metric; on an invalid-metric error drop the metric Graph names (cheap),
    else split the list in halves until the bad one is alone. Appends rejected metrics to ``dropped``.

    On code 1 "reduce the amount of data" the request is made smaller: half the metrics each, or,
    for a single metric, half the range each; one metric for one day that is still too much fails
    (``RequestTooLarge``, which the task fails rather than repeats)."""
    if not metrics:
        return {}
    try:
        return client.page_insights(page_id, metrics, since=since, until=until, period=PERIOD)
    except RequestTooLarge:
        if len(metrics) == 1 and (until - since).days <= 1:
            raise
        log.warning("insights_request_split", page_id=page_id, metrics=len(metrics), days=(until - since).days)
        if len(metrics) == 1:
            middle_day = since + timedelta(days=(until - since).days // 2)
            first = _fetch_range(client, page_id, metrics, since, middle_day, dropped)
            second = _fetch_range(client, page_id, metrics, middle_day, until, dropped)
            return _joined(first, second)
        middle = len(metrics) // 2
        left = _fetch_range(client, page_id, metrics[:middle], since, until, dropped)
        return {**left, **_fetch_range(client, page_id, metrics[middle:], since, until, dropped)}
    except InvalidRequest as error:
        if not _is_metric_rejection(error, metrics):
            raise
        named = _named_metric(error.graph_message, metrics)
        if named is None and len(metrics) == 1:
            named = metrics[0]
        if named is not None:
            log.warning("insights_metric_dropped", page_id=page_id, metric=named, error=error.graph_message[:300])
            dropped.append(named)
            return _fetch_range(client, page_id, [m for m in metrics if m != named], since, until, dropped)
    middle = len(metrics) // 2
    left = _fetch_range(client, page_id, metrics[:middle], since, until, dropped)
    return {**left, **_fetch_range(client, page_id, metrics[middle:], since, until, dropped)}


def _joined(first: dict[str, InsightSeries], second: dict[str, InsightSeries]) -> dict[str, InsightSeries]:
    """Two consecutive ranges of the same metrics as one series each."""
    out = dict(first)
    for name, series in second.items():
        known = out.get(name)
        out[name] = series if known is None else InsightSeries(
            name, known.period or series.period, [*known.values, *series.values], known.title, known.description)
    return out


def fetch_insights(client: GraphClient, plan: PullPlan) -> Fetched:
    """Every range of the plan, one request each (plus paging); bad metrics dropped as found."""
    fetched = Fetched()
    calls_before = client.calls
    page_id = plan.integration.page_id
    for since, until in plan.ranges:
        metrics = [m for m in plan.metrics if m not in fetched.dropped]
        for name, series in _fetch_range(client, page_id, metrics, since, until, fetched.dropped).items():
            known = fetched.series.get(name)
            if known is None:
                fetched.series[name] = InsightSeries(name, series.period, list(series.values),
                                                     series.title, series.description)
            else:
                known.values.extend(series.values)
    fetched.calls = client.calls - calls_before
    return fetched


# ----------------------------------------------------------------------------- storing


def _number(value: Any) -> float | None:
    """A finite number from an int, a float or a numeric string; None for anything else (a bool,
    NaN, infinity, a number too large for a float)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        number = float(value)
    except (ValueError, OverflowError):
        return None
    return number if math.isfinite(number) else None


def _end_time(raw: Any) -> datetime | None:
    if not isinstance(raw, str):
        return None
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)).astimezone(timezone.utc)


def _breakdown(raw: Any) -> dict[str, Any]:
    """A non-numeric value as the JSON object stored in ``breakdown`` (a non-object is wrapped)."""
    kept: dict[str, Any] = {str(k): v for k, v in raw.items()} if isinstance(raw, dict) else {"value": raw}
    if len(json.dumps(kept, default=str)) > MAX_BREAKDOWN_BYTES:
        return {"omitted": f"object larger than {MAX_BREAKDOWN_BYTES} bytes", "keys": sorted(kept)[:200]}
    return kept


def _summed(metric: str, parts: dict[str, Any]) -> float | None:
    """The total of a documented partition (``SUMMABLE_BREAKDOWNS``), None when any part is missing."""
    keys = SUMMABLE_BREAKDOWNS.get(metric)
    if not keys:
        return None
    numbers = [_number(parts.get(key)) for key in keys]
    return sum(n for n in numbers if n is not None) if all(n is not None for n in numbers) else None


def split_value(metric: str, raw: Any) -> tuple[float | None, dict[str, Any] | None]:
    """(number, object) for one value: a number is the value; an object is kept whole, and is also
    summed into the value only when its keys are a documented partition of one total."""
    if raw is None:
        return None, None  # Graph said null: unknown
    number = _number(raw)
    if number is not None:
        return number, None
    parts = _breakdown(raw)
    return _summed(metric, parts), parts


def insight_rows(integration_id: str, series: dict[str, InsightSeries], metrics: Iterable[str],
                 fetched_at: datetime) -> list[dict[str, Any]]:
    """Rows for the requested metrics. A null value is kept as NULL (unknown); a value that is an
    object (a breakdown) is kept whole in ``breakdown`` with a warning naming the metric, never dropped."""
    rows: dict[tuple[str, str, datetime], dict[str, Any]] = {}
    objects: dict[str, int] = {}
    for metric in metrics:
        found = series.get(metric)
        if found is None:
            continue
        period = found.period if isinstance(found.period, str) and found.period else PERIOD
        for point in found.values:
            end_time = _end_time(point.get("end_time"))
            if end_time is None:
                continue
            value, breakdown = split_value(metric, point.get("value"))
            if breakdown is not None:
                objects[metric] = objects.get(metric, 0) + 1
            rows[(metric, period[:16], end_time)] = {
                "integration_id": integration_id, "metric": metric, "period": period[:16],
                "end_time": end_time, "value": value, "breakdown": breakdown, "fetched_at": fetched_at,
            }
    for metric, count in objects.items():
        log.warning("insights_object_values_kept", metric=metric, values=count,
                    summed=metric in SUMMABLE_BREAKDOWNS,
                    reason="Graph sent objects, not numbers: kept whole in page_insights.breakdown")
    return list(rows.values())


def upsert_insights(session: Session, rows: list[dict[str, Any]]) -> int:
    """INSERT … ON CONFLICT DO UPDATE (PostgreSQL and SQLite), updating only values that changed,
    so re-running a pull writes nothing. Returns the rows inserted or changed."""
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    table = PageInsight.__table__
    changed = 0
    for start in range(0, len(rows), UPSERT_CHUNK):
        statement = insert(table).values(rows[start:start + UPSERT_CHUNK])
        statement = statement.on_conflict_do_update(
            index_elements=["integration_id", "metric", "period", "end_time"],
            set_={"value": statement.excluded.value, "breakdown": statement.excluded.breakdown,
                  "fetched_at": statement.excluded.fetched_at},
            where=table.c.value.is_distinct_from(statement.excluded.value)
            | table.c.breakdown.is_distinct_from(statement.excluded.breakdown),
        ).returning(table.c.id)
        # RETURNING, not rowcount: psycopg reports -1 for this statement; skipped conflicts return nothing.
        changed += len(session.execute(statement).all())
    return changed


def remember_dropped(session: Session, integration_id: str, metrics: Sequence[str]) -> None:
    """Add to ``meta["droppedMetrics"]`` so later pulls never ask for these metrics again."""
    if not metrics:
        return
    integration = session.get(Integration, integration_id, with_for_update=True)
    if integration is None:
        return
    meta = dict(integration.meta or {})
    meta[DROPPED_KEY] = sorted(set(dropped_metrics(integration)) | set(metrics))
    integration.meta = meta  # reassigned: in-place JSON mutation would not be flushed


def store_insights(session: Session, plan: PullPlan, fetched: Fetched) -> PullResult:
    rows = insight_rows(plan.integration_id, fetched.series, plan.metrics, datetime.now(timezone.utc))
    changed = upsert_insights(session, rows)
    remember_dropped(session, plan.integration_id, fetched.dropped)
    return PullResult(
        integration_id=plan.integration_id, page_id=plan.integration.page_id, metrics=list(plan.metrics),
        ranges=list(plan.ranges), rows=len(rows), changed=changed, calls=fetched.calls,
        dropped=list(fetched.dropped),
    )


# ----------------------------------------------------------------------------- the whole pull


def default_client(integration: Integration) -> GraphClient:
    """A client on the insights (lower-priority) share of the Page's shared budget."""
    return client_for_integration(integration, purpose="insights")


def queue_follow_ups(session: Session, result: PullResult) -> None:
    """After a stored pull: score the new days, then refresh post metrics (both after commit)."""
    enqueue(session, TaskName.DETECT_ANOMALIES, result.integration_id)
    enqueue(session, TaskName.SYNC_POST_METRICS, result.integration_id, queue=Queue.INSIGHTS.value)


def pull_page_insights(
    integration_id: str,
    *,
    client_factory: ClientFactory = default_client,
    today: date | None = None,
    days: int | None = None,
    settings: Settings | None = None,
    on_stored: Callable[[Session, PullResult], None] | None = None,
) -> PullResult:
    """Plan, fetch and store one Page's insights. ``GraphError``s propagate (the caller decides
    retry or fail); ``on_stored`` runs inside the storing transaction (to enqueue follow-ups)."""
    settings = settings or get_settings()
    today = today or datetime.now(timezone.utc).date()
    with transaction() as session:
        plan = plan_pull(session, integration_id, today=today, settings=settings, days=days)
    if isinstance(plan, PullResult):
        log.info("insights_pull_skipped", integration_id=integration_id, reason=plan.skipped)
        return plan
    client = client_factory(plan.integration)
    fetched = fetch_insights(client, plan)
    with transaction() as session:
        result = store_insights(session, plan, fetched)
        if on_stored is not None:
            on_stored(session, result)
    log.info("insights_pulled", integration_id=integration_id, rows=result.rows, changed=result.changed,
             calls=result.calls, ranges=len(result.ranges), dropped=result.dropped)
    return result
