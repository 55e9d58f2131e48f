"""Page and post insights: Graph's shape, limits and deprecations over the seeded series.

The numbers come from :mod:`graph.sandbox.series`; this module serves them the way Graph does:
``period=day`` only, at most 93 days between ``since`` and ``until``, a value for measured day D
reported with ``end_time`` D + 1 at 08:00 UTC, retired metrics refused with code 100, and post
metrics that stay 0 until the post is live.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Any, Mapping

from graph.sandbox import series
from graph.sandbox.errors import invalid, not_found
from graph.sandbox.params import param_str, parse_time
from graph.sandbox.records import PostRecord, TokenRecord
from graph.sandbox.store import PageStore, locked

MAX_INSIGHTS_DAYS = 93


class InsightsReads(PageStore):
    """GET /{page}/insights and GET /{post}/insights."""

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
            _check_metric(metric, series.PAGE_METRICS)
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
        last_day = min(until, today) - timedelta(days=1)
        data = []
        for metric in metrics:
            spec = series.PAGE_METRICS[metric]
            values = [
                {"value": value, "end_time": f"{(day + timedelta(days=1)).isoformat()}T08:00:00+0000"}
                for day, value in series.series(self.seed, page.page_id, metric, since, last_day, page.anomaly_day)
            ]
            data.append({
                "name": metric, "period": "day", "values": values, "title": spec.title,
                "description": spec.description, "id": f"{page.page_id}/insights/{metric}/day",
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
