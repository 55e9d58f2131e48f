"""Insights pulls and post metrics against mocked HTTP (`responses`): what goes on the wire.

One request per range carrying every metric, paging, range splitting, the invalid-metric fallback,
deprecated names, and the post-metrics field expansion (missing field -> NULL).
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone
from urllib.parse import parse_qs, urlsplit

import pytest
import responses
from structlog.testing import capture_logs

from graph.client import GraphClient, InsightSeries
from graph.errors import InvalidRequest, NotFound
from graph.sandbox import series as sandbox_series
from models import Integration
from tasks.domain.page_insights import (
    DEFAULT_METRICS,
    DEPRECATED_METRICS,
    PullPlan,
    fetch_insights,
    insight_rows,
    plan_since,
    resolve_metrics,
    split_ranges,
)
from tasks.domain.post_metrics import (
    POST_FIELDS,
    TrackedPost,
    fetch_readings,
    parse_post,
)

TOKEN = "EAAGm0PX4ZCpsBAzzSecretPageToken123456"
PAGE = "1234567890"
BASE = "https://graph.facebook.com/v24.0"
INSIGHTS = f"{BASE}/{PAGE}/insights"
TODAY = date(2025, 6, 1)


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def client() -> GraphClient:
    return GraphClient(TOKEN, base_url=BASE, scope_id=PAGE)


def query(call) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(call.request.url).query).items()}


def integration() -> Integration:
    return Integration(id="0b0e6f0e-4d7f-4a55-9b0f-3a0f2e9d1c11", tenant_id="t", external_account_id=PAGE,
                       api_key="encrypted", meta={"pageId": PAGE}, status="active")


def plan(metrics=DEFAULT_METRICS, since: date = TODAY - timedelta(days=90), until: date = TODAY) -> PullPlan:
    return PullPlan(integration=integration(), metrics=tuple(metrics), ranges=tuple(split_ranges(since, until)))


def values_for(since: date, until: date) -> list[dict]:
    return [{"value": 10 + n, "end_time": f"{(since + timedelta(days=n + 1)).isoformat()}T08:00:00+0000"}
            for n in range((until - since).days)]


def insights_callback(bad: set[str], *, name_it: bool, counter: list[list[str]]):
    """A Graph-like /insights: a 100 for any requested metric in ``bad`` (named or not)."""

    def respond(request):
        params = {k: v[0] for k, v in parse_qs(urlsplit(request.url).query).items()}
        metrics = params["metric"].split(",")
        counter.append(metrics)
        rejected = [m for m in metrics if m in bad]
        if rejected:
            message = (f"(#100) The value must be a valid insights metric: {rejected[0]} is not valid" if name_it
                       else "(#100) The value must be a valid insights metric")
            return 400, {}, _json({"error": {"message": message, "type": "OAuthException", "code": 100}})
        since, until = date.fromisoformat(params["since"]), date.fromisoformat(params["until"])
        data = [{"name": m, "period": "day", "values": values_for(since, until)} for m in metrics]
        return 200, {}, _json({"data": data})

    return respond


def _json(body) -> str:
    import json

    return json.dumps(body)


# ----------------------------------------------------------------------------- request shapes


def test_every_metric_of_a_range_in_one_request(rsps, client):
    seen: list[list[str]] = []
    rsps.add_callback(responses.GET, INSIGHTS, callback=insights_callback(set(), name_it=True, counter=seen))
    fetched = fetch_insights(client, plan())
    assert len(rsps.calls) == 1 and fetched.calls == 1
    q = query(rsps.calls[0])
    assert q["metric"] == ",".join(DEFAULT_METRICS)
    assert q["period"] == "day"
    assert (q["since"], q["until"]) == ((TODAY - timedelta(days=90)).isoformat(), TODAY.isoformat())
    assert "access_token" not in rsps.calls[0].request.url
    assert set(fetched.series) == set(DEFAULT_METRICS)
    assert len(fetched.series["page_media_view"].values) == 90


def test_a_long_backfill_is_split_into_ranges_of_at_most_90_days(rsps, client):
    seen: list[list[str]] = []
    rsps.add_callback(responses.GET, INSIGHTS, callback=insights_callback(set(), name_it=True, counter=seen))
    fetched = fetch_insights(client, plan(since=TODAY - timedelta(days=200)))
    spans = [(date.fromisoformat(query(c)["since"]), date.fromisoformat(query(c)["until"])) for c in rsps.calls]
    assert len(spans) == 3
    assert all((until - since).days <= 90 for since, until in spans)
    assert spans[0][0] == TODAY - timedelta(days=200) and spans[-1][1] == TODAY
    assert all(a[1] == b[0] for a, b in zip(spans, spans[1:]))  # contiguous, no gap, no overlap
    assert all(len(m) == len(DEFAULT_METRICS) for m in seen)  # each range: all metrics at once
    rows = insight_rows("i", fetched.series, DEFAULT_METRICS, datetime.now(timezone.utc))
    assert len(rows) == 200 * len(DEFAULT_METRICS)


def test_paging_next_within_the_range_is_followed(rsps, client):
    since, until = TODAY - timedelta(days=10), TODAY
    middle = since + timedelta(days=5)
    first = values_for(since, middle)
    second = values_for(middle, until)
    next_url = f"{INSIGHTS}?metric=page_media_view&period=day&since={int(datetime(middle.year, middle.month, middle.day, tzinfo=timezone.utc).timestamp())}&access_token={TOKEN}"
    rsps.get(INSIGHTS, json={"data": [{"name": "page_media_view", "period": "day", "values": first}],
                             "paging": {"next": next_url}})
    rsps.get(INSIGHTS, json={"data": [{"name": "page_media_view", "period": "day", "values": second}]})
    fetched = fetch_insights(client, plan(["page_media_view"], since=since, until=until))
    assert fetched.calls == 2
    assert "access_token" not in rsps.calls[1].request.url  # the token never rides in a URL
    assert [v["value"] for v in fetched.series["page_media_view"].values] == [v["value"] for v in first + second]


# ----------------------------------------------------------------------------- invalid metrics


def test_a_named_invalid_metric_is_dropped_and_the_rest_still_pulled(rsps, client):
    seen: list[list[str]] = []
    rsps.add_callback(responses.GET, INSIGHTS,
                      callback=insights_callback({"page_bogus"}, name_it=True, counter=seen))
    metrics = list(DEFAULT_METRICS[:3]) + ["page_bogus"] + list(DEFAULT_METRICS[3:])
    with capture_logs() as logs:
        fetched = fetch_insights(client, plan(metrics, since=TODAY - timedelta(days=200)))
    assert fetched.dropped == ["page_bogus"]
    assert set(fetched.series) == set(DEFAULT_METRICS)
    # Cheap path: one failed request, then every later request (and range) without it.
    assert len(seen) == 1 + 3 and "page_bogus" in seen[0]
    assert all("page_bogus" not in m and len(m) == len(DEFAULT_METRICS) for m in seen[1:])
    assert any(e["event"] == "insights_metric_dropped" and e["metric"] == "page_bogus" for e in logs)


def test_an_unnamed_invalid_metric_is_found_by_bisection(rsps, client):
    seen: list[list[str]] = []
    rsps.add_callback(responses.GET, INSIGHTS,
                      callback=insights_callback({"page_total_actions"}, name_it=False, counter=seen))
    fetched = fetch_insights(client, plan())
    assert fetched.dropped == ["page_total_actions"]
    assert set(fetched.series) == set(DEFAULT_METRICS) - {"page_total_actions"}
    assert len(seen) <= 1 + 2 * 3  # log2(8) levels of two halves at most
    for metrics in seen:
        assert metrics == [m for m in DEFAULT_METRICS if m in metrics]  # order kept, no extras


def test_two_bad_metrics_are_both_dropped(rsps, client):
    seen: list[list[str]] = []
    rsps.add_callback(responses.GET, INSIGHTS, callback=insights_callback(
        {"page_video_views", "page_follows"}, name_it=False, counter=seen))
    fetched = fetch_insights(client, plan())
    assert sorted(fetched.dropped) == ["page_follows", "page_video_views"]
    assert set(fetched.series) == set(DEFAULT_METRICS) - {"page_follows", "page_video_views"}


def test_a_100_that_is_not_about_metrics_fails_the_pull_and_drops_nothing(rsps, client):
    rsps.get(INSIGHTS, status=400, json={"error": {"message": "(#100) Param since must be a date", "code": 100}})
    with pytest.raises(InvalidRequest):
        fetch_insights(client, plan(["page_media_view"]))


def test_a_missing_page_is_not_mistaken_for_bad_metrics(rsps, client):
    rsps.get(INSIGHTS, status=400, json={"error": {
        "message": "Unsupported get request. Object with ID does not exist", "code": 100, "error_subcode": 33}})
    with pytest.raises(NotFound):
        fetch_insights(client, plan())
    assert len(rsps.calls) == 1  # no bisection: the Page, not a metric, is the problem


# ----------------------------------------------------------------------------- metric set and days


def test_deprecated_names_are_mapped_with_a_warning():
    configured = ["page_impressions", "page_fans", "page_engaged_users", "page_fan_adds",
                  "page_impressions_unique", "page_media_view", "page_video_views", 7]
    with capture_logs() as logs:
        resolved = resolve_metrics(configured)
    assert resolved == ["page_media_view", "page_follows", "page_post_engagements", "page_daily_follows_unique",
                        "page_total_media_view_unique", "page_video_views"]  # mapped, de-duplicated, in order
    warned = {e["metric"]: e["replacement"] for e in logs if e["event"] == "insights_metric_deprecated"}
    assert warned["page_impressions"] == "page_media_view" and warned["page_fans"] == "page_follows"
    assert len(warned) == 5


# Page metrics Meta retired on 2025-06-15 and 2025-11-15 (asking for one is error 100), and the
# metric that replaces each: written out here, independently of tasks.domain.page_insights.
RETIRED_PAGE_METRICS = {
    "page_impressions": "page_media_view",
    "page_impressions_unique": "page_total_media_view_unique",
    "page_fans": "page_follows",
    "page_engaged_users": "page_post_engagements",
    "page_fan_adds": "page_daily_follows_unique",
    "page_fan_removes": "page_daily_unfollows_unique",
}
RETIRED_WITHOUT_REPLACEMENT = {"page_impressions_paid", "page_impressions_organic", "page_impressions_viral",
                               "page_impressions_nonviral"}


def test_the_default_metric_set_asks_for_no_retired_metric():
    retired = set(RETIRED_PAGE_METRICS) | RETIRED_WITHOUT_REPLACEMENT | set(DEPRECATED_METRICS)
    assert not retired & set(DEFAULT_METRICS), sorted(retired & set(DEFAULT_METRICS))
    assert not retired & set(resolve_metrics(None))
    # The sandbox refuses retired metrics as Graph does; it must accept every default one.
    assert [m for m in DEFAULT_METRICS if sandbox_series.deprecated_replacement(m) is not None] == []


def test_every_retired_metric_maps_to_its_current_replacement():
    for retired, replacement in RETIRED_PAGE_METRICS.items():
        assert DEPRECATED_METRICS.get(retired) == replacement, retired
        assert resolve_metrics([retired]) == [replacement]
    for retired, replacement in DEPRECATED_METRICS.items():
        assert replacement in DEFAULT_METRICS and replacement not in DEPRECATED_METRICS, (retired, replacement)


def test_default_set_and_dropped_metrics():
    assert resolve_metrics(None) == list(DEFAULT_METRICS)
    assert "page_video_views" not in resolve_metrics(None, dropped=["page_video_views"])
    assert resolve_metrics(["page_impressions"], dropped=["page_media_view"]) == []


def test_first_pull_backfills_later_pulls_overlap():
    assert plan_since(None, TODAY, backfill_days=90) == TODAY - timedelta(days=90)
    last = datetime(2025, 5, 31, 8, tzinfo=timezone.utc)  # measured day May 30
    assert plan_since(last, TODAY, backfill_days=90) == date(2025, 5, 28)
    assert plan_since(last, TODAY, backfill_days=90, days=10) == TODAY - timedelta(days=10)
    assert split_ranges(TODAY - timedelta(days=90), TODAY) == [(TODAY - timedelta(days=90), TODAY)]


def test_rows_keep_null_as_unknown_and_breakdowns_whole():
    series = {"page_media_view": InsightSeries("page_media_view", "day", [
        {"value": 5, "end_time": "2025-05-02T08:00:00+0000"},
        {"value": None, "end_time": "2025-05-03T08:00:00+0000"},
        {"value": {"US": 3}, "end_time": "2025-05-04T08:00:00+0000"},
        {"value": 7},  # no end_time: unusable
    ]), "page_extra": InsightSeries("page_extra", "day", [{"value": 1, "end_time": "2025-05-02T08:00:00+0000"}])}
    with capture_logs() as logs:
        rows = insight_rows("i", series, ["page_media_view"], datetime.now(timezone.utc))
    assert [(r["end_time"].day, r["value"], r["breakdown"]) for r in rows] == [
        (2, 5.0, None), (3, None, None), (4, None, {"US": 3})]
    assert all(r["end_time"].tzinfo is not None for r in rows)
    assert [(e["metric"], e["values"]) for e in logs if e["event"] == "insights_object_values_kept"] == [
        ("page_media_view", 1)]


def test_only_a_documented_partition_is_summed(monkeypatch):
    from tasks.domain import page_insights

    assert page_insights.SUMMABLE_BREAKDOWNS == {}  # none confirmed in Meta's text (graph-research.md J)
    assert page_insights.split_value("m", {"a": 1, "b": 2}) == (None, {"a": 1, "b": 2})
    monkeypatch.setitem(page_insights.SUMMABLE_BREAKDOWNS, "m", ("a", "b"))
    assert page_insights.split_value("m", {"a": 1, "b": 2, "note": "x"}) == (3.0, {"a": 1, "b": 2, "note": "x"})
    assert page_insights.split_value("m", {"a": 1}) == (None, {"a": 1})  # a part missing: no total
    assert page_insights.split_value("m", [1, 2]) == (None, {"value": [1, 2]})
    assert page_insights.split_value("m", "12") == (12.0, None)
    for odd in (True, float("nan"), float("inf"), 10**400):
        assert page_insights.split_value("m", odd)[0] is None


# ----------------------------------------------------------------------------- post metrics


def _post(post_id: str, *, shares: int | None = 3, insights: bool = True, reactions: int = 12) -> dict:
    item = {"id": post_id, "created_time": "2025-05-30T10:00:00+0000",
            "reactions": {"data": [], "summary": {"total_count": reactions, "viewer_reaction": "NONE"}},
            "comments": {"data": [], "summary": {"order": "ranked", "total_count": 4}}}
    if shares is not None:
        item["shares"] = {"count": shares}
    if insights:
        item["insights"] = {"data": [{"name": "post_media_view", "period": "lifetime", "values": [{"value": 900}]}]}
    return item


def test_post_metrics_come_from_one_field_expanded_listing(rsps, client):
    ours = [TrackedPost(f"p{n}", f"{PAGE}_{n}") for n in range(100)]
    url = f"{BASE}/{PAGE}/published_posts"
    rsps.get(url, json={"data": [_post(f"{PAGE}_{n}") for n in range(100)],
                        "paging": {"next": f"{url}?after=abc&access_token={TOKEN}"}})
    rsps.get(url, json={"data": [_post(f"{PAGE}_{n}") for n in range(100, 200)]})
    since = datetime(2025, 5, 1, tzinfo=timezone.utc)
    readings = fetch_readings(client, PAGE, ours, since)
    assert len(rsps.calls) == 1  # every post found on the first page: no second call
    q = query(rsps.calls[0])
    assert q["fields"] == POST_FIELDS and q["limit"] == "50" and q["since"] == str(int(since.timestamp()))
    for expansion in ("reactions.summary(true).limit(0)", "comments.summary(true).limit(0)", "shares",
                      "insights.metric(post_media_view)"):
        assert expansion in q["fields"].split(",")
    assert len(readings) == 100
    assert readings["p7"].reactions == 12 and readings["p7"].comments == 4
    assert readings["p7"].shares == 3 and readings["p7"].media_views == 900


def test_post_metrics_follow_paging_only_while_posts_are_missing(rsps, client):
    url = f"{BASE}/{PAGE}/published_posts"
    rsps.get(url, json={"data": [_post(f"{PAGE}_{n}") for n in range(100)],
                        "paging": {"next": f"{url}?after=abc"}})
    rsps.get(url, json={"data": [_post(f"{PAGE}_500")]})
    ours = [TrackedPost("p1", f"{PAGE}_1"), TrackedPost("old", "500")]  # a bare post id matches too
    readings = fetch_readings(client, PAGE, ours, datetime(2025, 5, 1, tzinfo=timezone.utc))
    assert len(rsps.calls) == 2 and set(readings) == {"p1", "old"}


def test_a_field_meta_leaves_out_is_unknown_not_zero():
    reading = parse_post({"id": "1_2", "reactions": {"data": []}, "comments": {"summary": {"total_count": 0}}})
    assert reading.reactions is None  # summary missing: unknown
    assert reading.comments == 0  # Graph said zero: zero
    assert reading.shares is None and reading.media_views is None
    assert parse_post(_post("1_3", shares=None, insights=False)).shares is None
    assert parse_post({"id": "1_4", "insights": {"data": [{"name": "post_media_view", "values": []}]}}).media_views is None


def test_no_token_in_any_url(rsps, client):
    seen: list[list[str]] = []
    rsps.add_callback(responses.GET, INSIGHTS, callback=insights_callback({"page_bogus"}, name_it=False, counter=seen))
    fetch_insights(client, plan(["page_media_view", "page_bogus"]))
    assert rsps.calls and all(not re.search(TOKEN, c.request.url) for c in rsps.calls)
