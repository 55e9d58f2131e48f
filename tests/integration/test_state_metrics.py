"""The state exporter (`socialcal metrics`): gauges read from the real database and Redis at scrape time."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from datetime import timedelta

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from graph.budget import page_scope
from models import FailedJob, PageInsight, utcnow
from models.db import transaction
from tasks.domain.clients import budget_for
from tasks.domain.heartbeat import record_dispatch_run
from tasks.domain.integrations import mark_needs_reconnect
from tasks.domain.state_metrics import StateCollector
from tests.integration.test_metrics_worker import free_port, sample
from tests.integration.test_ops_status import closed_port_url
from tests.support.factories import connect, make_tenant
from tests.support.pipeline import approve_post, future, write_post
from tests.support.stack import ROOT
from tests.support.waits import wait_for
from worker.core.settings import get_settings

pytestmark = pytest.mark.integration


def scrape_collector(settings=None) -> str:
    registry = CollectorRegistry()
    registry.register(StateCollector(settings))
    return generate_latest(registry).decode()


def test_state_gauges_follow_the_database_and_redis(db, sandbox, redis_client):
    redis_client.flushdb()
    live, dead = sandbox.add_page(name="Live"), sandbox.add_page(name="Dead")
    tenant_id = make_tenant()
    live_id = connect(tenant_id, live.page_id, live.token)
    dead_id = connect(make_tenant("Dead"), dead.page_id, dead.token)
    mark_needs_reconnect(dead_id, RuntimeError("token expired"))
    post_id = write_post(tenant_id, "waiting for a worker", when=future(days=0.02))  # slot in ~29 min
    approve_post(post_id)  # no worker runs: the wake-up waits in the publish queue
    with transaction() as session:
        session.add(FailedJob(task_name="insights.pull_page", args=[], kwargs={}, error_class="Transient",
                              error_message="x"))
        session.add(PageInsight(integration_id=live_id, metric="page_views_total", period="day",
                                end_time=utcnow(), value=1.0, fetched_at=utcnow() - timedelta(hours=2)))
    budget_for(get_settings()).pause(page_scope(live.page_id), time.time() + 600, "test")
    record_dispatch_run({"approved": 1, "expired_leases": 0}, now=time.time() - 30)

    text = scrape_collector()
    for part in ("broker", "database", "budget"):
        assert sample(text, "socialcal_state_up", part=part) == 1
    assert sample(text, "socialcal_queue_messages", queue="publish") == 1
    assert sample(text, "socialcal_failed_jobs_open", task="insights.pull_page", error_class="Transient") == 1
    assert sample(text, "socialcal_integrations", status="needs_reconnect") == 1
    assert sample(text, "socialcal_integrations", status="active") == 1
    assert sample(text, "socialcal_posts_awaiting_handoff", window="next_hour") == 1
    assert sample(text, "socialcal_posts_awaiting_handoff", window="overdue") == 0
    assert 7100 < sample(text, "socialcal_insights_pull_age_seconds", page_id=live.page_id) < 7300
    assert 590 < sample(text, "socialcal_graph_pause_remaining_seconds", page_id=live.page_id, scope="page") <= 600
    assert sample(text, "socialcal_graph_pause_remaining_seconds", page_id=dead.page_id, scope="page") == 0
    assert sample(text, "socialcal_graph_budget_capacity") == 24 * get_settings().graph_calls_per_hour  # per Page and 24 h
    assert time.time() - 40 < sample(text, "socialcal_dispatch_due_last_run_timestamp_seconds") < time.time()
    for secret in (live.token, dead.token, post_id, "waiting for a worker"):
        assert secret not in text


def test_a_store_that_is_down_is_a_zero_not_a_failed_scrape(db):
    settings = get_settings().with_overrides(broker_url=closed_port_url())
    text = scrape_collector(settings)
    assert sample(text, "socialcal_state_up", part="broker") == 0
    assert sample(text, "socialcal_state_up", part="budget") == 0
    assert sample(text, "socialcal_state_up", part="database") == 1
    assert sample(text, "socialcal_integrations", status="active") == 0  # empty database: zeros, not gaps


def test_socialcal_metrics_serves_the_state_over_http(db):
    port = free_port()
    env = {**os.environ, "SOCIALCAL_DATABASE_URL": db}
    proc = subprocess.Popen([sys.executable, "-m", "worker.cli", "metrics", "--port", str(port), "--host", "127.0.0.1"],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        def scraped() -> str | None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
                    return response.read().decode()
            except OSError:
                assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
                return None

        text = wait_for(scraped, 30, what="the state exporter to answer")
        assert sample(text, "socialcal_state_up", part="database") == 1
        assert "socialcal_queue_messages" in text
    finally:
        proc.terminate()
        proc.wait(10)
