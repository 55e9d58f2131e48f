"""Insights, post metrics, anomalies and report inputs against the sandbox Graph server and a real
database (SQLite and PostgreSQL): the plain functions in-process, plus one pull through a real worker.
"""

from __future__ import annotations

import json
import time
from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select
from structlog.testing import capture_logs

from models import (
    InsightAnomaly,
    Integration,
    IntegrationStatus,
    PageInsight,
    PostMetric,
    ReportInput,
    SocialPost,
    Tenant,
    TenantStatus,
)
from models.crypto import get_cipher
from models.db import transaction
from tasks.domain.anomalies import detect_anomalies, measured_day
from tasks.domain.clients import client_for_token
from tasks.domain.fanout import fanout_counts, plan_wave
from tasks.domain.page_insights import DEFAULT_METRICS, pull_page_insights
from tasks.domain.post_metrics import sync_post_metrics
from tasks.domain.reports import build_report_input
from tests.support.waits import wait_for
from worker.core.queues import AGENT_MESSAGE_NAMES, Queue
from worker.core.settings import get_settings

pytestmark = pytest.mark.integration

THRESHOLD = 3.5
BACKFILL_ROWS = 90 * len(DEFAULT_METRICS)


def unbudgeted(integration: Integration):
    """The client the tasks use, minus the Redis budget (these tests are about data, not pacing)."""
    token = get_cipher().decrypt(integration.api_key)
    return client_for_token(token, purpose="insights", scope_id=integration.page_id, budgeted=False)


def connect(sandbox, *, anomaly: bool = True, metrics: list[str] | None = None,
            tenant_status: str = TenantStatus.ACTIVE, status: str = IntegrationStatus.ACTIVE) -> tuple[Any, str, str]:
    """A sandbox Page connected to a new tenant: (page, tenant id, integration id)."""
    page = sandbox.add_page(anomaly=anomaly)
    with transaction() as session:
        tenant = Tenant(name=f"Tenant {page.page_id}", insight_metrics=metrics, status=tenant_status)
        session.add(tenant)
        session.flush()
        integration = Integration(tenant_id=tenant.id, external_account_id=page.page_id,
                                  api_key=get_cipher().encrypt(page.token), status=status,
                                  meta={"pageId": page.page_id, "pageName": page.name})
        session.add(integration)
        session.flush()
        return page, tenant.id, integration.id


def stored(integration_id: str) -> dict[tuple[str, date], float | None]:
    with transaction() as session:
        rows = session.execute(select(PageInsight.metric, PageInsight.end_time, PageInsight.value)
                               .where(PageInsight.integration_id == integration_id))
        return {(metric, measured_day(end_time)): value for metric, end_time, value in rows}


# ----------------------------------------------------------------------------- pulls


def test_backfill_then_incremental_pull_upserts_without_duplicates(db, sandbox):
    page, _tenant_id, integration_id = connect(sandbox)
    today = sandbox.state.today()

    first = pull_page_insights(integration_id, client_factory=unbudgeted)
    assert first.ok and first.calls == 1 and len(first.ranges) == 1
    assert first.rows == first.changed == BACKFILL_ROWS
    rows = stored(integration_id)
    assert len(rows) == BACKFILL_ROWS
    days = sorted({day for _metric, day in rows})
    assert days[0] == today - timedelta(days=90) and days[-1] == today - timedelta(days=1)

    again = pull_page_insights(integration_id, client_factory=unbudgeted)
    assert again.calls == 1 and again.ranges[0][0] == today - timedelta(days=3)  # last day minus the overlap
    assert again.rows == 3 * len(DEFAULT_METRICS) and again.changed == 0  # a re-run changes nothing
    assert stored(integration_id) == rows

    # Meta revised a recent day: the overlap re-reads it and the upsert puts Graph's value back.
    revised_day = today - timedelta(days=2)
    with transaction() as session:
        row = session.scalars(select(PageInsight).where(
            PageInsight.integration_id == integration_id, PageInsight.metric == "page_media_view",
            PageInsight.end_time == datetime.combine(revised_day + timedelta(days=1), datetime.min.time(),
                                                     timezone.utc).replace(hour=8))).one()
        row.value = -1.0
    assert pull_page_insights(integration_id, client_factory=unbudgeted).changed == 1
    assert stored(integration_id) == rows

    # The next day: one more day per metric, nothing duplicated.
    sandbox.advance_clock(86400)
    later = pull_page_insights(integration_id, client_factory=unbudgeted, today=today + timedelta(days=1))
    assert later.changed == len(DEFAULT_METRICS)
    assert len(stored(integration_id)) == BACKFILL_ROWS + len(DEFAULT_METRICS)


def test_an_invalid_metric_is_dropped_remembered_and_the_rest_pulled(db, sandbox):
    page, _tenant_id, integration_id = connect(
        sandbox, metrics=["page_media_view", "page_not_a_metric", "page_impressions", "page_follows"])
    result = pull_page_insights(integration_id, client_factory=unbudgeted)
    assert result.dropped == ["page_not_a_metric"]
    assert result.metrics == ["page_media_view", "page_not_a_metric", "page_follows"]  # page_impressions mapped
    assert {metric for metric, _day in stored(integration_id)} == {"page_media_view", "page_follows"}
    with transaction() as session:
        meta = session.get(Integration, integration_id).meta
    assert meta["droppedMetrics"] == ["page_not_a_metric"]
    assert page.token not in repr(meta)

    before = sandbox.stats()["errors_by_code"].get("100", 0)
    again = pull_page_insights(integration_id, client_factory=unbudgeted)
    assert again.calls == 1 and "page_not_a_metric" not in again.metrics
    assert sandbox.stats()["errors_by_code"].get("100", 0) == before  # never asked for again


def test_skipped_pages_send_nothing(db, sandbox):
    _page, _t, reconnect_id = connect(sandbox, status=IntegrationStatus.NEEDS_RECONNECT)
    _page, _t, paused_id = connect(sandbox, tenant_status=TenantStatus.PAUSED)
    calls = sandbox.stats()["total_calls"]
    assert pull_page_insights(reconnect_id, client_factory=unbudgeted).skipped == "integration needs_reconnect"
    assert pull_page_insights(paused_id, client_factory=unbudgeted).skipped == "tenant not active"
    assert sandbox.stats()["total_calls"] == calls


# ----------------------------------------------------------------------------- anomalies


def test_the_planted_anomaly_is_found_once_and_the_clean_page_has_none(db, sandbox, sent):
    spiky, tenant_id, spiky_id = connect(sandbox, anomaly=True)
    _clean, _t, clean_id = connect(sandbox, anomaly=False)
    for integration_id in (spiky_id, clean_id):
        pull_page_insights(integration_id, client_factory=unbudgeted)
    metric, day = sandbox.anomaly_for(spiky.page_id)

    with transaction() as session:
        found = detect_anomalies(session, spiky_id, threshold=THRESHOLD)
        clean = detect_anomalies(session, clean_id, threshold=THRESHOLD)
    assert [(f.metric, f.day, f.direction) for f in found] == [(metric, day, "up")]
    assert found[0].score > THRESHOLD and found[0].value > 3 * found[0].expected
    assert clean == []

    agent = [s for s in sent if s[0] == AGENT_MESSAGE_NAMES[Queue.AGENT_ANOMALY_DETECTOR]]
    assert len(agent) == 1 and agent[0][3]["queue"] == Queue.AGENT_ANOMALY_DETECTOR.value
    payload = agent[0][1][0]
    assert payload == {"tenant_id": tenant_id, "integration_id": spiky_id, "page_id": spiky.page_id,
                       "metric": metric, "day": day.isoformat(), "value": found[0].value,
                       "expected": found[0].expected, "score": found[0].score, "direction": "up",
                       "schema_version": 1}

    # However often it runs: stored once, sent once.
    with transaction() as session:
        assert detect_anomalies(session, spiky_id, threshold=THRESHOLD) == []
    with transaction() as session:
        assert session.scalar(select(func.count()).select_from(InsightAnomaly)) == 1
    assert len([s for s in sent if s[0] == AGENT_MESSAGE_NAMES[Queue.AGENT_ANOMALY_DETECTOR]]) == 1


# ----------------------------------------------------------------------------- post metrics and calls


def publish_posts(sandbox, page, tenant_id: str, integration_id: str, count: int) -> list[str]:
    """``count`` posts live on the sandbox Page, recorded as socialcal published them."""
    client = client_for_token(page.token, purpose="publish", budgeted=False)
    ids = []
    with transaction() as session:
        for n in range(count):
            external_id = client.create_feed_post(page.page_id, message=f"post {n}")
            post = SocialPost(tenant_id=tenant_id, integration_id=integration_id, status="published",
                              message=f"post {n}", external_id=external_id,
                              publish_url=f"https://www.facebook.com/{external_id}",
                              published_at=datetime.now(timezone.utc) - timedelta(hours=1))
            session.add(post)
            session.flush()
            ids.append(post.id)
    return ids


def test_a_daily_pull_for_a_page_with_100_recent_posts_costs_three_graph_calls(db, sandbox):
    page, tenant_id, integration_id = connect(sandbox)
    publish_posts(sandbox, page, tenant_id, integration_id, 100)
    pull_page_insights(integration_id, client_factory=unbudgeted)  # the first pull's backfill

    before = sandbox.stats()["calls_by_page"].get(page.page_id, 0)
    pulled = pull_page_insights(integration_id, client_factory=unbudgeted)
    posts = sync_post_metrics(integration_id, client_factory=unbudgeted)
    graph_calls = sandbox.stats()["calls_by_page"].get(page.page_id, 0) - before
    # 1 Page insights + 2 post metrics (50 posts per page: 100 with the insights expansion draws code 1)
    assert graph_calls == pulled.calls + posts.calls == 3

    assert posts.tracked == posts.rows == 100 and posts.missing == []
    with transaction() as session:
        readings = list(session.scalars(select(PostMetric).where(PostMetric.integration_id == integration_id)))
    assert len(readings) == 100
    assert all(r.reactions is not None and r.comments is not None for r in readings)
    assert all(r.media_views is not None and r.media_views > 0 for r in readings)  # no per-post call needed
    # The sandbox, like Meta, leaves `shares` out when nobody shared: unknown, not zero.
    assert any(r.shares is None for r in readings) and all(r.shares != 0 for r in readings)


# ----------------------------------------------------------------------------- report input


def test_report_input_totals_match_the_stored_rows(db, sandbox, sent):
    page, tenant_id, integration_id = connect(sandbox)
    post_ids = publish_posts(sandbox, page, tenant_id, integration_id, 3)
    pull_page_insights(integration_id, client_factory=unbudgeted)
    sync_post_metrics(integration_id, client_factory=unbudgeted)
    with transaction() as session:
        detect_anomalies(session, integration_id, threshold=THRESHOLD, notify=False)
    today = sandbox.state.today()
    start, end = today - timedelta(days=7), today  # today is not reported yet: one missing day
    rows = stored(integration_id)

    with transaction() as session:
        report_id, payload = build_report_input(session, tenant_id, start, end)
    [report] = payload["pages"]
    for metric in DEFAULT_METRICS:
        in_period = [rows[(metric, start + timedelta(days=n))] for n in range(7)]
        before = [rows[(metric, start - timedelta(days=n))] for n in range(1, 9)]  # the 8 days before
        summary = report["metrics"][metric]
        if metric == "page_follows":  # a level: the period's last value, not a sum
            assert summary["total"] == in_period[-1] and summary["aggregation"] == "last"
        else:
            assert summary["total"] == sum(in_period)
            assert summary["previous_total"] == sum(before)
            assert summary["change"] == sum(in_period) - sum(before)
            assert summary["change_percent"] == round((sum(in_period) - sum(before)) / sum(before) * 100, 2)
        assert summary["missing_days"] == [end.isoformat()]
    metric, day = sandbox.anomaly_for(page.page_id)
    assert [(a["metric"], a["day"], a["direction"]) for a in report["anomalies"]] == [(metric, day.isoformat(), "up")]
    assert {p["post_id"] for p in report["top_posts"]} == set(post_ids)
    engagements = [p["engagement"] for p in report["top_posts"]]
    assert engagements == sorted(engagements, reverse=True) and all(p["publish_url"] for p in report["top_posts"])
    assert report["missing"]["metrics_with_missing_days"] == sorted(DEFAULT_METRICS)

    # Re-runnable: one row per tenant and period, sent to the report writer each time.
    with transaction() as session:
        again_id, again = build_report_input(session, tenant_id, start, end)
    assert again_id == report_id and again == payload
    with transaction() as session:
        assert session.scalar(select(func.count()).select_from(ReportInput)) == 1
        assert session.get(ReportInput, report_id).payload == payload
    writer = [s for s in sent if s[0] == AGENT_MESSAGE_NAMES[Queue.AGENT_REPORT_WRITER]]
    assert len(writer) == 2 and writer[0][1][0]["report_input_id"] == report_id


# ----------------------------------------------------------------------------- fan-out


def test_fanout_waves_never_hand_the_broker_a_long_countdown(db, sandbox, sent, monkeypatch):
    eligible = {connect(sandbox)[2] for _ in range(5)}
    connect(sandbox, status=IntegrationStatus.NEEDS_RECONNECT)
    connect(sandbox, tenant_status=TenantStatus.PAUSED)
    horizon, spread = 240.0, 3600.0
    with transaction() as session:
        assert fanout_counts(session).__dict__ == {"eligible": 5, "needs_reconnect": 1, "disabled": 0,
                                                   "tenant_inactive": 1}
        # Simulated time: run each wave when its countdown says, collect every pull's send time.
        start = now = 1_000_000.0
        per = spread / 5
        cursor, index, sends, waves = None, 0, [], 0
        while True:
            wave = plan_wave(session, cursor=cursor, index=index, start=start, per=per, now=now, horizon=horizon)
            waves += 1
            assert all(0 <= countdown <= horizon for _id, countdown in wave.pulls)
            sends += [(integration_id, now + countdown) for integration_id, countdown in wave.pulls]
            if wave.next_countdown is None:
                break
            assert 0 <= wave.next_countdown <= horizon
            cursor, index, now = wave.next_cursor, wave.next_index, now + wave.next_countdown
        assert sorted(i for i, _t in sends) == sorted(eligible)  # each eligible Page exactly once
        assert [t - start for _i, t in sends] == [n * per for n in range(5)]  # spread over the window
        # No spread: waves of `limit` sent back to back.
        burst = plan_wave(session, cursor=None, index=0, start=now, per=0.0, now=now, horizon=horizon, limit=2)
        assert len(burst.pulls) == 2 and burst.next_countdown == 0.0 and burst.next_index == 2

    # The first wave (what beat's bare `insights.pull_all` runs): counts logged, one pull now, the
    # next wave within the broker limit.
    from tasks.domain.fanout import run_wave

    monkeypatch.setenv("SOCIALCAL_INSIGHTS_SPREAD_SECONDS", str(int(spread)))
    get_settings.cache_clear()
    with capture_logs() as logs, transaction() as session:
        run_wave(session, get_settings(), cursor=None, index=0, start=None, per=None)
    started = next(e for e in logs if e["event"] == "insights_fanout_started")
    assert (started["eligible"], started["skipped_needs_reconnect"], started["skipped_tenant_inactive"]) == (5, 1, 1)
    pulls = [s for s in sent if s[0] == "insights.pull_page"]
    again = [s for s in sent if s[0] == "insights.pull_all"]
    assert len(pulls) == 1 and pulls[0][1][0] in eligible and pulls[0][3]["queue"] == "insights"
    assert len(again) == 1 and 0 < again[0][3]["countdown"] <= 240
    assert again[0][2]["cursor"] == pulls[0][1][0] and again[0][2]["index"] == 1


# ----------------------------------------------------------------------------- CLI


def test_cli_pull_fills_the_tables_and_finds_the_anomaly(db, sandbox, redis_client):
    from worker.cli import cli

    page, tenant_id, integration_id = connect(sandbox)
    result = CliRunner().invoke(cli, ["insights", "pull", "--tenant", tenant_id, "--no-notify"])
    assert result.exit_code == 0, result.output
    metric, day = sandbox.anomaly_for(page.page_id)
    assert f"{metric} up on {day.isoformat()}" in result.output
    assert "pages: 1 pulled" in result.output and f"rows: {BACKFILL_ROWS}" in result.output
    assert page.token not in result.output
    shown = CliRunner().invoke(cli, ["insights", "show", "--tenant", tenant_id, "--metric", metric, "--json"])
    assert shown.exit_code == 0, shown.output
    flagged = [r for r in json.loads(shown.output) if r["anomaly"]]
    assert [r["day"] for r in flagged] == [day.isoformat()]


# ----------------------------------------------------------------------------- a real worker


def test_pull_page_runs_through_a_real_worker(workers, sandbox):
    from worker.app import app

    page, _tenant_id, integration_id = connect(sandbox)
    workers.start(queues=("insights",))
    resend_at = [0.0]

    def counts() -> tuple[int, int]:
        if time.monotonic() >= resend_at[0]:
            # Sent again while nothing arrived: pull_page is idempotent, and a shared test Redis may be
            # flushed by another suite between our send and the worker's fetch.
            app.send_task("insights.pull_page", args=[integration_id])
            resend_at[0] = time.monotonic() + 10
        with transaction() as session:
            rows = session.scalar(select(func.count()).where(PageInsight.integration_id == integration_id))
            anomalies = session.scalar(select(func.count()).where(InsightAnomaly.integration_id == integration_id))
        if rows:
            resend_at[0] = float("inf")  # it arrived: wait for the follow-up, never re-send
        return rows, anomalies

    try:  # pulled, then the chained detect_anomalies ran
        wait_for(lambda: counts() == (BACKFILL_ROWS, 1), 30, what="the pull and its anomaly")
    except AssertionError as error:
        raise AssertionError(f"{error}\n{workers.logs()[-4000:]}") from None
