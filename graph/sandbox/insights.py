"""Page and post insights: Graph's shape, limits and deprecations over the seeded series.

The numbers come from :mod:`graph.sandbox.series`; this module serves them the way Graph does:
``period=day`` only, at most 93 days between ``since`` and ``until``, a value for measured day D
reported with ``end_time`` D + 1 at 08:00 UTC, retired metrics refused with code 100, and post
metrics that stay 0 until the post is live.

Some metrics' values are objects, as on Graph: ``page_video_views_by_uploaded_hosted`` answers a
dict of overlapping parts (keys as in Meta's 2023-04-12 blog post introducing it), not a number.
A request carrying more values than ``insights_reduce_data_above`` (metrics x days; a fault knob)
answers code 1 "Please reduce the amount of data you're asking for".
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Any, Mapping

from graph.sandbox import series
from graph.sandbox.errors import invalid, not_found
from graph.sandbox.faults import reduce_data_error
from graph.sandbox.params import param_str, parse_time
from graph.sandbox.records import PostRecord, TokenRecord
from graph.sandbox.store import PageStore, locked

MAX_INSIGHTS_DAYS = 93
# Metrics whose value is an object. The keys overlap (Meta explains them by equations), so they are
# not parts of one total: page_owned = page_uploaded + page_hosted_crosspost + page_hosted_share here.
OBJECT_METRICS: dict[str, str] = {
    "page_video_views_by_uploaded_hosted": "Daily: Video views split by uploaded vs hosted (crossposted, shared).",
}


def video_views_by_uploaded_hosted(views: int) -> dict[str, int]:
    """A dict shaped like Meta's example, derived from the day's ``page_video_views``."""
    uploaded = int(views * 0.7)
    from_crossposts, from_shares = int(uploaded * 0.2), int(uploaded * 0.1)
    crosspost, share = int(views * 0.2), views - uploaded - int(views * 0.2)
    return {"page_uploaded": uploaded, "page_uploaded_from_crossposts": from_crossposts,
            "page_uploaded_from_shares": from_shares, "page_hosted_crosspost": crosspost,
            "page_hosted_share": share, "page_owned": uploaded + crosspost + share}


class InsightsReads(PageStore):
    """GET /{page}/insights and GET /{post}/insights."""

    insights_reduce_data_above: int | None  # a fault knob (FaultInjection)

    @locked
    def page_insights(
        self, actor: TokenRecord, page_id: str, params: Mapping[str, Any]
    ) -> tuple[list[dict[str, Any]], date, date]:
        """GET /{page}/insights: daily series; returns (data, since, until) for the paging links.

        Values cover measured days ``since`` .. ``until - 1``; each carries ``end_time`` = day + 1
        at 08:00 UTC, so the first ``end_time`` is ``since`` + 1 day, as on Graph. ``until`` is
        capped at today: a day is reported once it is over.
        """
        page = self._page_actor(actor, page_id, write=False)
        metrics = [name.strip() for name in (param_str(params, "metric") or "").split(",") if name.strip()]
        if not metrics:
            raise invalid("The parameter metric is required")
        for metric in metrics:
            _check_metric(metric, {**series.PAGE_METRICS, **OBJECT_METRICS})
        period = param_str(params, "period") or "day"
        if period != "day":
            raise invalid(f"The sandbox serves period=day only (got period={period})")
        today = self.today()
        until_ts = parse_time(params.get("until"), "until")
        since_ts = parse_time(params.get("since"), "since")
        until = _utc_date(until_ts) if until_ts is not None else today
        since = _utc_date(since_ts) if since_ts is not None else until - timedelta(days=2)
        if since > until:
            raise invalid("since must be before until")
        if (until - since).days > MAX_INSIGHTS_DAYS:
            raise invalid(f"There cannot be more than {MAX_INSIGHTS_DAYS} days ({MAX_INSIGHTS_DAYS * 86400} s) "
                          "between since and until")
        limit = self.insights_reduce_data_above
        if limit is not None and len(metrics) * max(1, (until - since).days) > limit:
            raise reduce_data_error()
        last_day = min(until, today) - timedelta(days=1)
        data = []
        for metric in metrics:
            source = "page_video_views" if metric in OBJECT_METRICS else metric
            points = series.series(self.seed, page.page_id, source, since, last_day, page.anomaly_day)
            values = [
                {"value": video_views_by_uploaded_hosted(value) if metric in OBJECT_METRICS else value,
                 "end_time": f"{(day + timedelta(days=1)).isoformat()}T08:00:00+0000"}
                for day, value in points
            ]
            spec = series.PAGE_METRICS.get(metric)
            data.append({
                "name": metric, "period": "day", "values": values,
                "title": spec.title if spec else metric.replace("_", " ").capitalize(),
                "description": spec.description if spec else OBJECT_METRICS[metric],
                "id": f"{page.page_id}/insights/{metric}/day",
            })
        return data, since, until

    @locked
    def post_insights(self, actor: TokenRecord, post_id: str, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        """GET /{post}/insights?metric=post_media_view: lifetime values (0 until the post is live)."""
        self._promote_due()
        record = self._owned(actor, post_id, "GET")
        if not isinstance(record, PostRecord):
            raise not_found(post_id, "GET")
        metrics = [name.strip() for name in (param_str(params, "metric") or "").split(",") if name.strip()]
        if not metrics:
            raise invalid("The parameter metric is required")
        return post_insights_data(self.seed, record, metrics)


def post_insights_data(seed: int, post: PostRecord, metrics: list[str]) -> list[dict[str, Any]]:
    """Lifetime post metrics in Graph's shape (also rendered for ``fields=insights.metric(...)``)."""
    data = []
    for metric in metrics:
        _check_metric(metric, series.POST_METRICS)
        value = series.post_metric_value(seed, post.id, metric) if post.published else 0
        data.append({
            "name": metric, "period": "lifetime", "values": [{"value": value}],
            "title": metric.replace("_", " ").capitalize(), "description": series.POST_METRICS[metric],
            "id": f"{post.id}/insights/{metric}/lifetime",
        })
    return data


def _check_metric(metric: str, known: Mapping[str, Any]) -> None:
    replacement = series.deprecated_replacement(metric)
    if replacement is not None:
        hint = f"; use {replacement}" if replacement else ""
        raise invalid(f"The value must be a valid insights metric: {metric} has been deprecated{hint}")
    if metric not in known:
        raise invalid(f"The value must be a valid insights metric: {metric} is not a valid insights metric")


def _utc_date(ts: float) -> date:
    return datetime.fromtimestamp(ts, timezone.utc).date()
