"""Code 1 "Please reduce the amount of data you're asking for": ask for less, never the same again.

Post metrics halve the page (same cursor) down to a floor of 5 and then fail clearly; the insights
pull splits its request (fewer metrics, then a shorter range). Graph is mocked with ``responses``.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from urllib.parse import parse_qs, urlsplit

import pytest
import responses

from graph.client import MIN_PAGE_SIZE, PUBLISHED_PAGE_SIZE, GraphClient
from graph.errors import RequestTooLarge
from models import Integration
from tasks.domain.page_insights import PullPlan, fetch_insights, split_ranges
from tasks.domain.post_metrics import PAGE_SIZE, POST_FIELDS, TrackedPost, fetch_readings
from tasks.domain.retry_policy import decide
from worker.core.settings import Settings

TOKEN = "EAAGm0PX4ZCpsBAzzSecretPageToken123456"
PAGE = "1234567890"
BASE = "https://graph.facebook.com/v24.0"
LISTING = f"{BASE}/{PAGE}/published_posts"
INSIGHTS = f"{BASE}/{PAGE}/insights"
REDUCE = {"error": {"code": 1, "message": "Please reduce the amount of data you're asking for, then retry your request",
                    "type": "OAuthException", "fbtrace_id": "Ax"}}


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock


@pytest.fixture
def client() -> GraphClient:
    return GraphClient(TOKEN, base_url=BASE, scope_id=PAGE)


def query(call) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(call.request.url).query).items()}


def post(n: int) -> dict:
    return {"id": f"{PAGE}_{n}", "reactions": {"summary": {"total_count": n}}}


def test_post_metrics_start_at_50_per_page():
    assert PAGE_SIZE == PUBLISHED_PAGE_SIZE == 50 and MIN_PAGE_SIZE == 5


def test_reduce_data_halves_the_page_and_keeps_the_cursor(rsps, client):
    rsps.get(LISTING, json={"data": [post(1)], "paging": {"next": f"{LISTING}?after=CUR1&limit=50&fields=id"}})
    rsps.get(LISTING, json=REDUCE, status=500)
    rsps.get(LISTING, json={"data": [post(2)], "paging": {"next": f"{LISTING}?after=CUR2&limit=25&fields=id"}})
    rsps.get(LISTING, json={"data": []})
    pages = list(client.iter_published_posts(PAGE, fields="id"))
    assert [[i["id"] for i in p] for p in pages] == [[f"{PAGE}_1"], [f"{PAGE}_2"], []]
    sent = [query(c) for c in rsps.calls]
    assert sent[0]["limit"] == "50"
    assert (sent[1]["after"], sent[1]["limit"]) == ("CUR1", "50")  # refused
    assert (sent[2]["after"], sent[2]["limit"]) == ("CUR1", "25")  # same cursor, half the page
    assert (sent[3]["after"], sent[3]["limit"]) == ("CUR2", "25")  # the smaller page sticks


def test_reduce_data_on_the_first_page_halves_the_query(rsps, client):
    rsps.get(LISTING, json=REDUCE, status=500)
    rsps.get(LISTING, json={"data": [post(1)]})
    list(client.iter_published_posts(PAGE, fields="id"))
    assert [query(c)["limit"] for c in rsps.calls] == ["50", "25"]


def test_below_the_floor_the_read_fails_clearly_and_is_not_retried(rsps, client):
    for _ in range(5):
        rsps.get(LISTING, json=REDUCE, status=500)
    with pytest.raises(RequestTooLarge) as caught:
        list(client.iter_published_posts(PAGE, fields="id"))
    assert [query(c)["limit"] for c in rsps.calls] == ["50", "25", "12", "6", "5"]
    assert "already at 5 items per page" in str(caught.value) and "reduce the amount of data" in str(caught.value)
    decision = decide(caught.value, attempt=0, now=0.0, deadline=None, settings=Settings())
    assert decision.action == "fail"


def test_post_metrics_fetch_survives_reduce_data(rsps, client):
    rsps.get(LISTING, json=REDUCE, status=500)
    rsps.get(LISTING, json={"data": [post(1), post(2)]})
    ours = [TrackedPost("a", f"{PAGE}_1"), TrackedPost("b", f"{PAGE}_2")]
    readings = fetch_readings(client, PAGE, ours, datetime(2030, 1, 1, tzinfo=timezone.utc))
    assert {k: v.reactions for k, v in readings.items()} == {"a": 1, "b": 2}
    assert query(rsps.calls[0])["fields"] == POST_FIELDS


def test_other_code_1_errors_are_not_shrunk(rsps, client):
    rsps.get(LISTING, json={"error": {"code": 1, "message": "An unknown error has occurred."}}, status=500)
    with pytest.raises(Exception) as caught:
        list(client.iter_published_posts(PAGE, fields="id"))
    assert type(caught.value).__name__ == "Transient" and len(rsps.calls) == 1


# ----------------------------------------------------------------------------- insights


def _plan(metrics: list[str], days: int) -> PullPlan:
    today = date(2030, 3, 1)
    integration = Integration(id="i-1", tenant_id="t", external_account_id=PAGE, api_key="x",
                              meta={"pageId": PAGE}, status="active")
    return PullPlan(integration=integration, metrics=tuple(metrics),
                    ranges=tuple(split_ranges(today - timedelta(days=days), today)))


def insights_limited(max_values: int, seen: list[tuple[list[str], int]]):
    """A Graph-like /insights that answers code 1 when metrics x days exceeds ``max_values``."""

    def respond(request):
        params = {k: v[0] for k, v in parse_qs(urlsplit(request.url).query).items()}
        metrics = params["metric"].split(",")
        since, until = date.fromisoformat(params["since"]), date.fromisoformat(params["until"])
        days = (until - since).days
        seen.append((metrics, days))
        if len(metrics) * days > max_values:
            return 500, {}, responses.json_module.dumps(REDUCE)
        data = [{"name": m, "period": "day", "values": [
            {"value": 1, "end_time": f"{(since + timedelta(days=n + 1)).isoformat()}T08:00:00+0000"}
            for n in range(days)]} for m in metrics]
        return 200, {}, responses.json_module.dumps({"data": data})

    return respond


def test_insights_split_metrics_then_range_until_graph_serves_them(client):
    seen: list[tuple[list[str], int]] = []
    with responses.RequestsMock() as mock:
        mock.add_callback(responses.GET, INSIGHTS, callback=insights_limited(30, seen))
        fetched = fetch_insights(client, _plan(["m_a", "m_b", "m_c", "m_d"], days=60))
    assert seen[0] == (["m_a", "m_b", "m_c", "m_d"], 60)
    assert (["m_a", "m_b"], 60) in seen and (["m_a"], 30) in seen  # fewer metrics, then a shorter range
    assert {name: len(s.values) for name, s in fetched.series.items()} == {f"m_{x}": 60 for x in "abcd"}
    days = [v["end_time"] for v in fetched.series["m_a"].values]
    assert days == sorted(days) and len(set(days)) == 60  # the halves join without gaps or repeats


def test_insights_one_metric_one_day_still_too_much_fails(client):
    seen: list[tuple[list[str], int]] = []
    with responses.RequestsMock() as mock:
        mock.add_callback(responses.GET, INSIGHTS, callback=insights_limited(0, seen))
        with pytest.raises(RequestTooLarge):
            fetch_insights(client, _plan(["m_a", "m_b"], days=2))
    assert (["m_a"], 1) in seen
