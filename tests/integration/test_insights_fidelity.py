"""Insights and post metrics when Graph is as hard as Meta: object-valued metrics are stored whole
and passed to the report, and code 1 "reduce the amount of data" is answered by asking for less,
against the sandbox over HTTP and a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from structlog.testing import capture_logs

from graph.errors import RequestTooLarge
from models import PageInsight, PostMetric
from models.db import transaction
from tasks.domain.anomalies import detect_anomalies
from tasks.domain.page_insights import pull_page_insights
from tasks.domain.post_metrics import sync_post_metrics
from tasks.domain.reports import build_report_input
from tests.integration.test_insights_sandbox import connect, publish_posts, unbudgeted

pytestmark = pytest.mark.integration

OBJECT_METRIC = "page_video_views_by_uploaded_hosted"


def test_object_values_are_stored_whole_warned_and_passed_to_the_report(db, sandbox):
    _page, tenant_id, integration_id = connect(sandbox, metrics=["page_media_view", OBJECT_METRIC])
    with capture_logs() as logs:
        result = pull_page_insights(integration_id, client_factory=unbudgeted)
    assert result.ok and result.dropped == []
    warned = [e for e in logs if e["event"] == "insights_object_values_kept"]
    assert [(e["metric"], e["values"]) for e in warned] == [(OBJECT_METRIC, 90)]
    with transaction() as session:
        rows = list(session.scalars(select(PageInsight).where(PageInsight.integration_id == integration_id)))
    objects = [r for r in rows if r.metric == OBJECT_METRIC]
    numbers = [r for r in rows if r.metric == "page_media_view"]
    assert len(objects) == len(numbers) == 90
    assert all(r.value is None and set(r.breakdown) >= {"page_owned", "page_uploaded"} for r in objects)
    assert all(r.value is not None and r.breakdown is None for r in numbers)

    again = pull_page_insights(integration_id, client_factory=unbudgeted)  # a re-run changes nothing
    assert again.changed == 0

    with transaction() as session:
        detect_anomalies(session, integration_id, threshold=3.5, notify=False)  # numbers only, no crash
    today = sandbox.state.today()
    start, end = today - timedelta(days=7), today - timedelta(days=1)
    with transaction() as session:
        _report_id, payload = build_report_input(session, tenant_id, start, end)
    [report] = payload["pages"]
    by_day = report["breakdowns"][OBJECT_METRIC]
    assert len(by_day) == 7
    stored = {r.end_time.date() - timedelta(days=1): r.breakdown for r in objects}
    assert all(by_day[day.isoformat()] == stored[day] for day in (start, end))
    assert report["metrics"]["page_media_view"]["total"] == sum(
        r.value for r in numbers if start <= r.end_time.date() - timedelta(days=1) <= end)
    assert OBJECT_METRIC not in report["missing"]["metrics_without_data"]


def test_post_metrics_halve_the_page_when_graph_says_reduce_the_data(db, sandbox):
    page, tenant_id, integration_id = connect(sandbox)
    publish_posts(sandbox, page, tenant_id, integration_id, 30)
    sandbox.set_faults(reduce_data_above=20)
    with capture_logs() as logs:
        result = sync_post_metrics(integration_id, client_factory=unbudgeted)
    assert result.tracked == result.rows == 30 and result.missing == []
    halved = [e["limit"] for e in logs if e["event"] == "graph.page_size_halved"]
    assert halved == [25, 12]  # 50 and 25 refused, 12 served (same cursor each time)
    assert sandbox.stats()["errors_by_code"]["1"] == 2
    with transaction() as session:
        assert len(list(session.scalars(select(PostMetric).where(PostMetric.integration_id == integration_id)))) == 30


def test_post_metrics_fail_clearly_when_even_5_posts_are_too_much(db, sandbox):
    page, tenant_id, integration_id = connect(sandbox)
    publish_posts(sandbox, page, tenant_id, integration_id, 3)
    sandbox.set_faults(reduce_data_above=4)
    with pytest.raises(RequestTooLarge) as caught:
        sync_post_metrics(integration_id, client_factory=unbudgeted)
    assert "already at 5 items per page" in str(caught.value)


def test_insights_pull_splits_a_request_graph_finds_too_heavy(db, sandbox):
    _page, _tenant_id, integration_id = connect(sandbox, metrics=["page_media_view", "page_follows",
                                                                  "page_post_engagements"])
    sandbox.set_faults(insights_reduce_data_above=60)  # 3 metrics x 90 days refused; 1 metric x 45 days served
    result = pull_page_insights(integration_id, client_factory=unbudgeted)
    assert result.ok and result.rows == 3 * 90 and result.dropped == []
    assert sandbox.stats()["errors_by_code"]["1"] >= 2
