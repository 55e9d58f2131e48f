"""Engagement of the posts socialcal put on a Page, read in as few Graph calls as Graph allows.

One call lists the Page's published posts (``PAGE_SIZE`` per page of results) with every figure in
the field expansion — reactions and comments as summary counts, ``shares``, and ``post_media_view``
through ``insights.metric(post_media_view)`` — so a Page with 50 recent posts costs one call, not
51. Paging stops as soon as every post we track has been seen.

Why 50 per page and not Graph's 100: the insights expansion makes each post expensive for Graph,
and 100 draws code 1 "Please reduce the amount of data you're asking for". 50 (the top of the
25–50 range that works in the field) keeps the call count half that of 25 on busy Pages; when Meta
still answers code 1 the client halves the page (same cursor) down to 5, then the read fails with
``RequestTooLarge`` — which the task fails rather than repeats.

Meta leaves fields out (``shares`` when nobody shared, an insights edge it will not serve): an
absent field is stored as NULL — unknown — never as zero.

Which posts: those socialcal put on the Page within ``settings.post_metrics_days``: status
``published`` by ``published_at``, and ``scheduled`` posts whose time has passed (Facebook publishes
them itself; socialcal's status stays ``scheduled``, and they are most tenants' posts).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Mapping, Sequence

import structlog
from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from graph.client import PUBLISHED_PAGE_SIZE, GraphClient, graph_id
from models import Integration, PostMetric, PostStatus, SocialPost, Tenant
from models.db import transaction
from tasks.domain.page_insights import ClientFactory, default_client, skip_reason
from worker.core.settings import Settings, get_settings

log = structlog.get_logger(__name__)

MEDIA_VIEW_METRIC = "post_media_view"
POST_FIELDS = (
    "id,created_time,permalink_url,shares,"
    "reactions.summary(true).limit(0),comments.summary(true).limit(0),"
    f"insights.metric({MEDIA_VIEW_METRIC})"
)
PAGE_SIZE = PUBLISHED_PAGE_SIZE


@dataclass(frozen=True)
class TrackedPost:
    post_id: str
    external_id: str


@dataclass(frozen=True)
class PostReading:
    """One post's figures as Graph returned them; None = Graph left the field out (unknown)."""

    graph_id: str
    reactions: int | None
    comments: int | None
    shares: int | None
    media_views: int | None


@dataclass
class PostMetricsResult:
    integration_id: str
    tracked: int = 0  # our posts in the window
    rows: int = 0  # post_metrics rows written
    calls: int = 0
    missing: list[str] = field(default_factory=list)  # tracked posts Graph did not list
    skipped: str | None = None


# ----------------------------------------------------------------------------- parsing


MAX_COUNT = 2**31 - 1  # the post_metrics columns are 32-bit integers


def _int(value: Any) -> int | None:
    """A count as Graph sends it (a non-negative int), else None (unknown): never a bool, a float or
    a number too large for the column."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_COUNT:
        return value
    return None


def _summary_count(item: Mapping[str, Any], edge: str) -> int | None:
    found = item.get(edge)
    summary = found.get("summary") if isinstance(found, dict) else None
    return _int(summary.get("total_count")) if isinstance(summary, dict) else None


def _shares(item: Mapping[str, Any]) -> int | None:
    found = item.get("shares")
    return _int(found.get("count")) if isinstance(found, dict) else None


def _media_views(item: Mapping[str, Any]) -> int | None:
    """``insights.data[name=post_media_view].values[-1].value``, tolerant of every missing level."""
    insights = item.get("insights")
    data = insights.get("data") if isinstance(insights, dict) else None
    for series in data if isinstance(data, list) else []:
        if isinstance(series, dict) and series.get("name") == MEDIA_VIEW_METRIC:
            raw = series.get("values")
            values = [v for v in raw if isinstance(v, dict)] if isinstance(raw, list) else []
            value = values[-1].get("value") if values else None
            if isinstance(value, dict):
                # A breakdown where a number was expected: post_metrics holds one number, so say so.
                log.warning("post_metric_object_value", metric=MEDIA_VIEW_METRIC, post_id=str(item.get("id"))[:64],
                            keys=sorted(str(k) for k in value)[:20])
            return _int(value)
    return None


def parse_post(item: Any) -> PostReading | None:
    """One listed post's figures, or None (logged) when the item is not a post with a well-formed id."""
    found = graph_id(item.get("id")) if isinstance(item, Mapping) else None
    if found is None:
        log.warning("post_metrics_item_ignored", reason="listed item without a well-formed post id",
                    item_type=type(item).__name__, id_type=type(item.get("id")).__name__
                    if isinstance(item, Mapping) else None)
        return None
    return PostReading(graph_id=found, reactions=_summary_count(item, "reactions"),
                       comments=_summary_count(item, "comments"), shares=_shares(item),
                       media_views=_media_views(item))


def _keys(external_id: str) -> tuple[str, ...]:
    """Match ``{page}_{post}`` ids and bare post ids alike (publishing may store either)."""
    return (external_id, external_id.rsplit("_", 1)[-1]) if "_" in external_id else (external_id,)


# ----------------------------------------------------------------------------- phases


def tracked_posts(session: Session, integration_id: str, since: datetime, now: datetime) -> list[TrackedPost]:
    posts = session.execute(
        select(SocialPost.id, SocialPost.external_id).where(
            SocialPost.integration_id == integration_id,
            SocialPost.external_id.is_not(None),
            or_(
                and_(SocialPost.status == PostStatus.PUBLISHED, SocialPost.published_at >= since),
                and_(SocialPost.status == PostStatus.SCHEDULED, SocialPost.scheduled_at >= since,
                     SocialPost.scheduled_at <= now),
            ),
        )
    )
    return [TrackedPost(post_id, external_id) for post_id, external_id in posts]


def fetch_readings(client: GraphClient, page_id: str, posts: Sequence[TrackedPost],
                   since: datetime) -> dict[str, PostReading]:
    """Readings keyed by our post id, from the Page's published posts listing (no per-post call)."""
    wanted: dict[str, str] = {}
    for post in posts:
        for key in _keys(post.external_id):
            wanted.setdefault(key, post.post_id)
    found: dict[str, PostReading] = {}
    pending = {post.post_id for post in posts}
    # Newest first; a page beyond what our posts need is spent only while some are still unseen. The
    # bound is in posts, not pages, because the client may shrink the page on "reduce the data".
    max_items = len(posts) + 2 * PAGE_SIZE
    scanned = 0
    for items in client.iter_published_posts(page_id, fields=POST_FIELDS, since=since, limit=PAGE_SIZE):
        for item in items:
            scanned += 1
            reading = parse_post(item)
            if reading is None:
                continue
            for key in _keys(reading.graph_id):
                post_id = wanted.get(key)
                if post_id is not None and post_id in pending:
                    found[post_id] = reading
                    pending.discard(post_id)
        if not pending or scanned >= max_items or not items:
            break
    return found


def store_readings(session: Session, integration_id: str, posts: Sequence[TrackedPost],
                   readings: Mapping[str, PostReading], read_at: datetime) -> int:
    """One ``post_metrics`` row per post read (history is kept: each reading is its own row)."""
    rows = [
        PostMetric(post_id=post.post_id, integration_id=integration_id, external_id=post.external_id,
                   reactions=reading.reactions, comments=reading.comments, shares=reading.shares,
                   media_views=reading.media_views, read_at=read_at)
        for post in posts if (reading := readings.get(post.post_id)) is not None
    ]
    session.add_all(rows)
    return len(rows)


def sync_post_metrics(
    integration_id: str,
    *,
    client_factory: ClientFactory = default_client,
    now: datetime | None = None,
    settings: Settings | None = None,
) -> PostMetricsResult:
    """Read and store the engagement of our recent posts on one Page; ``GraphError``s propagate."""
    settings = settings or get_settings()
    now = now or datetime.now(timezone.utc)
    since = now - timedelta(days=settings.post_metrics_days)
    with transaction() as session:
        integration = session.get(Integration, integration_id)
        tenant = session.get(Tenant, integration.tenant_id) if integration is not None else None
        reason = skip_reason(integration, tenant)
        posts = tracked_posts(session, integration_id, since, now) if reason is None else []
    result = PostMetricsResult(integration_id=integration_id, tracked=len(posts), skipped=reason)
    if reason is not None or not posts:
        return result
    assert integration is not None
    client = client_factory(integration)
    calls_before = client.calls
    readings = fetch_readings(client, integration.page_id, posts, since - timedelta(days=1))
    result.calls = client.calls - calls_before
    with transaction() as session:
        result.rows = store_readings(session, integration_id, posts, readings, now)
    result.missing = [p.post_id for p in posts if p.post_id not in readings]
    log.info("post_metrics_synced", integration_id=integration_id, tracked=result.tracked, rows=result.rows,
             calls=result.calls, missing=len(result.missing),
             media_views_known=sum(1 for r in readings.values() if r.media_views is not None))
    return result
