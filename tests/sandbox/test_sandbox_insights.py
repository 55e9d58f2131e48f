"""The sandbox Graph server's insights: Graph's shape, deprecated metrics, the planted anomaly."""

from __future__ import annotations

import statistics
import time
from datetime import date, datetime, timedelta, timezone

import pytest
import requests

from graph.sandbox import SandboxServer
from graph.sandbox import series as sandbox_series


@pytest.fixture(scope="module")
def srv():
    server = SandboxServer(port=0, seed=3, calls_per_window=10_000).start()
    yield server
    assert server.stats()["internal_errors"] == []
    server.stop()


def insights(srv, page, token=None, **params):
    return requests.get(f"{srv.graph_url}/{page.page_id}/insights", params={"period": "day", **params},
                        headers={"Authorization": f"OAuth {token or page.token}"}, timeout=5)


def today() -> date:
    return datetime.now(timezone.utc).date()


def robust_z(values: list[int], window: int = 28) -> list[float]:
    """|x - median| / (1.4826 * MAD) of each point against the trailing window before it."""
    out = []
    for i in range(window, len(values)):
        trailing = values[i - window:i]
        median = statistics.median(trailing)
        mad = statistics.median(abs(v - median) for v in trailing)
        out.append(abs(values[i] - median) / (1.4826 * mad) if mad else float("inf"))
    return out


def test_shape_and_first_end_time_is_since_plus_one_day(srv):
    page = srv.add_page()
    response = insights(srv, page, metric="page_media_view,page_follows", since="2025-03-01", until="2025-03-08")
    assert response.status_code == 200, response.text
    body = response.json()
    assert [item["name"] for item in body["data"]] == ["page_media_view", "page_follows"]
    views = body["data"][0]
    assert views["period"] == "day" and views["id"] == f"{page.page_id}/insights/page_media_view/day"
    assert views["title"] and views["description"]
    assert [v["end_time"] for v in views["values"]] == [f"2025-03-{d:02d}T08:00:00+0000" for d in range(2, 9)]
    assert all(isinstance(v["value"], int) and v["value"] >= 0 for v in views["values"])
    follows = [v["value"] for v in body["data"][1]["values"]]
    assert follows == sorted(follows)  # a running total
    assert {"previous", "next"} <= set(body["paging"])
    assert page.token not in body["paging"]["next"]

    unix = insights(srv, page, metric="page_media_view",
                    since=str(int(datetime(2025, 3, 1, tzinfo=timezone.utc).timestamp())),
                    until=str(int(datetime(2025, 3, 8, tzinfo=timezone.utc).timestamp())))
    assert unix.json()["data"][0]["values"] == views["values"]  # deterministic, and unix == ISO


def test_series_are_deterministic_per_page_and_seed(srv):
    a, b = srv.add_page(), srv.add_page()
    params = {"metric": "page_post_engagements", "since": "2025-01-01", "until": "2025-02-01"}
    first = insights(srv, a, **params).json()["data"][0]["values"]
    assert insights(srv, a, **params).json()["data"][0]["values"] == first
    assert insights(srv, b, **params).json()["data"][0]["values"] != first


def test_until_is_capped_at_today(srv):
    page = srv.add_page()
    values = insights(srv, page, metric="page_media_view", since=(today() - timedelta(days=5)).isoformat(),
                      until=(today() + timedelta(days=10)).isoformat()).json()["data"][0]["values"]
    assert values[-1]["end_time"] == f"{today().isoformat()}T08:00:00+0000"
    assert len(values) == 5


@pytest.mark.parametrize("metric", ["page_impressions", "page_fans", "page_impressions_unique",
                                    "page_engaged_users", "page_fan_adds", "page_fan_adds_by_paid_non_paid_unique",
                                    "page_posts_impressions_viral", "page_posts_impressions_nonviral",
                                    "page_made_up_metric"])
def test_deprecated_and_unknown_metrics_are_error_100_naming_the_metric(srv, metric):
    page = srv.add_page()
    response = insights(srv, page, metric=f"page_media_view,{metric}")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == 100 and "valid insights metric" in error["message"] and metric in error["message"]


def test_range_over_93_days_is_rejected(srv):
    page = srv.add_page()
    too_long = insights(srv, page, metric="page_media_view", since="2025-01-01", until="2025-04-05")
    assert too_long.json()["error"]["code"] == 100
    assert insights(srv, page, metric="page_media_view", since="2025-01-01", until="2025-04-04").status_code == 200


def test_planted_anomaly_only_on_anomaly_pages(srv):
    spiky = srv.add_page(anomaly=True)
    clean = srv.add_page(anomaly=False)
    metric, day = srv.state.anomaly_for(spiky.page_id)
    assert metric == "page_media_view" and day == today() - timedelta(days=3)
    assert srv.state.anomaly_for(clean.page_id) is None

    since = (today() - timedelta(days=90)).isoformat()
    for page, expect_spike in ((spiky, True), (clean, False)):
        body = insights(srv, page, metric=",".join(sandbox_series.PAGE_METRICS), since=since,
                        until=today().isoformat()).json()
        for item in body["data"]:
            values = [v["value"] for v in item["values"]]
            z = robust_z(values)
            flagged = [item["values"][28 + i]["end_time"] for i, score in enumerate(z) if score > 3]
            if expect_spike and item["name"] == metric:
                # the value for measured day D carries end_time D + 1
                assert flagged[0] == f"{(day + timedelta(days=1)).isoformat()}T08:00:00+0000"
                assert max(z) > 20
            else:
                assert flagged == [], (page.page_id, item["name"], max(z))


def test_anomaly_day_is_configurable(srv):
    page = srv.add_page(anomaly_day=date(2025, 5, 20))
    values = insights(srv, page, metric="page_media_view", since="2025-05-01",
                      until="2025-06-01").json()["data"][0]["values"]
    by_end = {v["end_time"][:10]: v["value"] for v in values}
    spike = by_end["2025-05-21"]
    others = [value for end, value in by_end.items() if end != "2025-05-21"]
    assert spike > 4 * statistics.median(others)


def test_clean_series_hold_across_many_pages_and_seeds():
    """The guarantee the anomaly detector's tests lean on, checked on the pure series."""
    worst = 0.0
    for seed in (1, 2, 3):
        for n in range(8):
            for metric in sandbox_series.PAGE_METRICS:
                values = [v for _, v in sandbox_series.series(seed, f"1000{n}", metric, date(2025, 1, 1),
                                                              date(2025, 7, 1))]
                worst = max(worst, max(robust_z(values)))
    assert worst < 3


def test_post_insights_and_field_expansion(srv):
    page = srv.add_page()
    headers = {"Authorization": f"OAuth {page.token}"}
    post_id = requests.post(f"{srv.graph_url}/{page.page_id}/feed", data={"message": "hi"}, headers=headers,
                            timeout=5).json()["id"]
    body = requests.get(f"{srv.graph_url}/{post_id}/insights", params={"metric": "post_media_view"},
                        headers=headers, timeout=5).json()
    [item] = body["data"]
    assert item["name"] == "post_media_view" and item["period"] == "lifetime"
    assert isinstance(item["values"][0]["value"], int) and item["values"][0]["value"] > 0
    deprecated = requests.get(f"{srv.graph_url}/{post_id}/insights", params={"metric": "post_impressions"},
                              headers=headers, timeout=5).json()
    assert deprecated["error"]["code"] == 100

    expanded = requests.get(f"{srv.graph_url}/{page.page_id}/published_posts", headers=headers, timeout=5,
                            params={"fields": "id,insights.metric(post_media_view)"}).json()["data"][0]
    assert expanded["insights"]["data"][0]["values"] == item["values"]

    scheduled = requests.post(f"{srv.graph_url}/{page.page_id}/feed", headers=headers, timeout=5, data={
        "message": "later", "published": "false", "scheduled_publish_time": str(int(time.time()) + 3600)}).json()
    zero = requests.get(f"{srv.graph_url}/{scheduled['id']}/insights", params={"metric": "post_media_view"},
                        headers=headers, timeout=5).json()
    assert zero["data"][0]["values"] == [{"value": 0}]
