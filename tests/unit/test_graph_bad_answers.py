"""Graph answers that are not what Graph promises: HTML pages, truncated or non-object JSON, a 200
carrying an error, ids that are numbers or lists, listings whose ``data`` is not a list. Each is a
``GraphError`` of the right class (``Transient``; ``Ambiguous`` after a create), never another
exception and never a silently empty result. The hypothesis tests feed arbitrary JSON to every
client method and to the domain parsers (post metrics, page insights, connect).
"""

from __future__ import annotations

import json
import re
from datetime import date, datetime, timezone
from typing import Any
from unittest import mock

import pytest
import responses
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from structlog.testing import capture_logs

from graph.client import GraphClient, ManagedPage
from graph.errors import Ambiguous, GraphError, PolicyBlocked, Transient
from models import Integration
from tasks.domain.page_insights import PullPlan, fetch_insights, insight_rows, split_ranges
from tasks.domain.post_metrics import TrackedPost, fetch_readings, parse_post
from tests.contract.test_graph_sdk_contract import CASES, Case

TOKEN = "EAAGm0PX4ZCpsBAzzSecretPageToken123456"
PAGE = "1234567890"
BASE = "https://graph.facebook.com/v24.0"
ANY = re.compile(r"https?://.*")
HTML = "<!DOCTYPE html><html><head><title>Error</title></head><body>Sorry, something went wrong.</body></html>"


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        yield mocked


@pytest.fixture
def client() -> GraphClient:
    return GraphClient(TOKEN, base_url=BASE, scope_id=PAGE)


def answer(rsps, body: Any, status: int = 200, *, raw: bool = False) -> None:
    text = body if raw else json.dumps(body)
    for verb in ("GET", "POST", "DELETE"):
        rsps.add(verb, ANY, body=text, status=status, content_type="application/json")


@pytest.mark.parametrize("status", [200, 502])
def test_an_html_page_is_transient_for_a_read_and_ambiguous_for_a_create(rsps, client, status):
    answer(rsps, HTML, status, raw=True)
    with pytest.raises(Transient):
        client.verify_page(PAGE)
    with pytest.raises(Ambiguous):
        client.create_feed_post(PAGE, message="hi")


@pytest.mark.parametrize("text", ['{"id": "12', '{"data": [{"id": "1"}', "", "[" * 100_000, "null", "[1, 2]", '"ok"'])
def test_truncated_deep_or_non_object_json_is_classified(rsps, client, text):
    answer(rsps, text, raw=True)
    with pytest.raises(Transient):
        client.list_scheduled_posts(PAGE)
    with pytest.raises(Ambiguous):
        client.upload_video(PAGE, "https://cdn.example/v.mp4")


def test_a_200_with_an_error_body_is_the_error_it_carries(rsps, client):
    answer(rsps, {"error": {"code": 2, "message": "Service temporarily unavailable"}})
    with pytest.raises(Transient):
        client.post_insights(f"{PAGE}_1", ["post_media_view"])
    rsps.reset()
    answer(rsps, {"error": {"code": 368, "error_subcode": 1346003, "message": "(#368) deemed abusive"}})
    with pytest.raises(PolicyBlocked):
        client.create_feed_post(PAGE, message="hi")
    rsps.reset()
    answer(rsps, {"error": "oops"})
    with pytest.raises(Transient):
        client.verify_page(PAGE)


@pytest.mark.parametrize("bad_id", [123, 1.5, ["1_2"], {"id": "1_2"}, "", "has space", True])
def test_a_created_id_of_the_wrong_type_is_an_unknown_outcome(rsps, client, bad_id):
    answer(rsps, {"id": bad_id, "post_id": bad_id})
    with pytest.raises(Ambiguous, match="malformed|no 'id'"):
        client.create_feed_post(PAGE, message="hi")
    with pytest.raises(Ambiguous):
        client.upload_photo(PAGE, "https://cdn.example/p.jpg")


@pytest.fixture
def client_logs(monkeypatch):
    """capture_logs for graph.client's log lines, whatever ran before: structlog caches a logger on its
    first use, and a cached one bypasses capture_logs (as after any earlier test that logged through
    graph.client, e.g. in a mutation run's reordered subset), so the module gets a fresh one inside."""
    import structlog

    with capture_logs() as logs:
        monkeypatch.setattr("graph.client.log", structlog.get_logger("graph.client"))
        yield logs


def test_a_malformed_photo_post_id_is_left_out_with_a_warning(rsps, client, client_logs):
    answer(rsps, {"id": "555", "post_id": ["1_2"]})
    result = client.upload_photo(PAGE, "https://cdn.example/p.jpg")
    assert (result.id, result.post_id) == ("555", None)
    assert any(e["event"] == "graph.malformed_post_id" for e in client_logs)


def test_a_bad_reel_start_is_transient_not_ambiguous(rsps, client):
    answer(rsps, {"video_id": 42, "upload_url": "https://rupload.facebook.com/video-upload/v24.0/42"})
    with pytest.raises(Transient) as caught:
        client.start_reel(PAGE)
    assert not isinstance(caught.value, Ambiguous)  # only an id is reserved: nothing is on the Page
    rsps.reset()
    answer(rsps, {"video_id": "42", "upload_url": ["x"]})
    with pytest.raises(Transient):
        client.start_reel(PAGE)


@pytest.mark.parametrize("body", [{"data": {"id": "1"}}, {"data": 5}, {"data": "x"}, {}, {"paging": {}}])
def test_a_listing_without_a_data_list_is_transient_never_empty(rsps, client, body):
    """An empty listing would tell reconciliation the post is not there, and it would be sent twice."""
    answer(rsps, body)
    for call in (lambda: client.list_scheduled_posts(PAGE), lambda: client.list_published_posts(PAGE),
                 lambda: client.page_insights(PAGE, ["page_media_view"], since=date(2030, 1, 1),
                                              until=date(2030, 1, 5)),
                 lambda: client.list_managed_pages()):
        with pytest.raises(Transient, match="without a data list"):
            call()


def test_odd_paging_and_items_are_survived(rsps, client):
    answer(rsps, {"data": [{"id": "1_2"}, 7, None, ["x"]], "paging": ["next"]})
    assert client.list_scheduled_posts(PAGE) == [{"id": "1_2"}]
    rsps.reset()
    answer(rsps, {"status": ["ready"]})
    assert client.video_status("9") == {}


@pytest.mark.parametrize("bad", [["1"], 1, None, ""])
def test_verify_page_without_a_well_formed_id_is_transient(rsps, client, bad):
    answer(rsps, {"id": bad, "name": {"x": 1}})
    with pytest.raises(Transient):
        client.verify_page(PAGE)


def test_managed_pages_without_an_id_or_token_are_skipped_and_said(rsps, client, client_logs):
    answer(rsps, {"data": [
        {"id": 111, "name": "numeric id", "access_token": "EAApagetoken000001"},
        {"id": "222", "name": "no token"},
        {"id": "333", "name": ["odd"], "access_token": "EAApagetoken000003", "tasks": ["CREATE_CONTENT", 5]},
    ]})
    pages = client.list_managed_pages()
    assert pages == [ManagedPage("333", "", "EAApagetoken000003", ("CREATE_CONTENT",))]
    assert sum(e["event"] == "graph.managed_page_skipped" for e in client_logs) == 2


def test_post_metric_items_with_bad_ids_are_ignored_with_a_warning():
    with capture_logs() as logs:
        assert parse_post({"id": 12345, "reactions": {"summary": {"total_count": 3}}}) is None
        assert parse_post(["not", "a", "post"]) is None
    assert sum(e["event"] == "post_metrics_item_ignored" for e in logs) == 2
    reading = parse_post({"id": "1_2", "reactions": {"summary": {"total_count": 2**40}},
                          "insights": {"data": [{"name": "post_media_view", "values": 5}]}})
    assert reading is not None and reading.reactions is None and reading.media_views is None


# ----------------------------------------------------------------------------- anything at all

GRAPH_KEYS = st.sampled_from(["id", "data", "paging", "next", "cursors", "error", "code", "message", "error_subcode",
                              "values", "value", "end_time", "name", "period", "summary", "total_count", "reactions",
                              "comments", "shares", "count", "insights", "post_id", "video_id", "upload_url",
                              "success", "status", "video_status", "access_token", "tasks", "is_transient"])
SCALARS = (st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
           | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=12)
           | st.sampled_from(["1_2", "2030-01-02T08:00:00+0000", "https://graph.facebook.com/v24.0/1/feed?after=x"]))
JSON = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4)
                    | st.dictionaries(GRAPH_KEYS | st.text(max_size=6), inner, max_size=6), max_leaves=30)
BODIES = JSON.map(json.dumps) | st.text(max_size=40) | st.sampled_from([HTML, '{"id": "1', "", "[" * 3000])
STATUSES = st.sampled_from([200, 200, 200, 400, 403, 500, 502])
FUZZ = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def run_with(body: str, status: int, call) -> Any:
    """Run ``call`` against a Graph that answers ``body`` to everything; only GraphError may escape."""
    with mock.patch("graph.client.register_secret"), responses.RequestsMock(assert_all_requests_are_fired=False) as m:
        for verb in ("GET", "POST", "DELETE"):
            m.add(verb, ANY, body=body, status=status, content_type="application/json")
        client = GraphClient(TOKEN, base_url=BASE, scope_id=PAGE)
        try:
            result = call(client)
            if hasattr(result, "__next__"):
                result = list(result)
            return result
        except GraphError:
            return None


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
@FUZZ
@given(body=BODIES, status=STATUSES)
def test_no_answer_makes_any_client_method_raise_anything_but_a_graph_error(case: Case, body: str, status: int):
    run_with(body, status, lambda client: getattr(client, case.method)(*case.args, **dict(case.kwargs)))


def _plan() -> PullPlan:
    integration = Integration(id="i-1", tenant_id="t", external_account_id=PAGE, api_key="x", meta={"pageId": PAGE},
                              status="active")
    return PullPlan(integration=integration, metrics=("page_media_view", "page_follows"),
                    ranges=tuple(split_ranges(date(2030, 1, 1), date(2030, 1, 5))))


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=BODIES, status=STATUSES)
def test_domain_reads_survive_any_answer(body: str, status: int):
    readings = run_with(body, status, lambda c: fetch_readings(c, PAGE, [TrackedPost("p", f"{PAGE}_2")],
                                                               datetime(2030, 1, 1, tzinfo=timezone.utc)))
    assert readings is None or set(readings) <= {"p"}
    fetched = run_with(body, status, lambda c: fetch_insights(c, _plan()))
    if fetched is not None:
        rows = insight_rows("i-1", fetched.series, _plan().metrics, datetime.now(timezone.utc))
        assert all(isinstance(r["value"], (float, type(None))) for r in rows)
        assert all(r["breakdown"] is None or isinstance(r["breakdown"], dict) for r in rows)
    pages = run_with(body, status, lambda c: c.list_managed_pages())
    assert pages is None or all(isinstance(p.id, str) and p.access_token for p in pages)


@settings(max_examples=300, deadline=None)
@given(item=JSON)
def test_the_parsers_never_raise(item: Any):
    reading = parse_post(item)
    assert reading is None or isinstance(reading.graph_id, str)
    from graph.answers import parse_series

    if isinstance(item, dict):
        series = parse_series(item)
        rows = insight_rows("i-1", {series.name: series}, [series.name], datetime.now(timezone.utc))
        assert all(isinstance(r["value"], (float, type(None))) for r in rows)
