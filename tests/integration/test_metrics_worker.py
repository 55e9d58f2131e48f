"""A real prefork worker's /metrics: scraped before and after publishing, the counters move.

The worker runs its tasks in pool child processes while the endpoint lives in its main process, so
these tests also prove the multiprocess wiring: without it the main process would serve nothing.
"""

from __future__ import annotations

import socket
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from models import PostStatus
from tests.support.factories import connect, make_tenant
from tests.support.pipeline import approve_post, post_row, write_post
from tests.support.waits import wait_for

pytestmark = pytest.mark.integration


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        return response.read().decode()


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample (0 when absent: a counter that never moved has no series yet)."""
    for family in text_string_to_metric_families(text):
        for item in family.samples:
            if item.name == name and all(item.labels.get(k) == v for k, v in labels.items()):
                return float(item.value)
    return 0.0


@pytest.fixture
def metered_worker(db, sandbox, workers):
    port = free_port()
    worker = workers.start(pool="prefork", concurrency=2, SOCIALCAL_METRICS_PORT=str(port))
    wait_for(lambda: "metrics_endpoint_started" in worker.read_log(), 20, what="metrics endpoint")
    return port


def test_publishing_moves_the_counters_of_a_prefork_worker(metered_worker, sandbox):
    port = metered_worker
    page = sandbox.add_page(name="Metered")
    tenant_id = make_tenant()
    connect(tenant_id, page.page_id, page.token)
    before = scrape(port)
    assert sample(before, "socialcal_publish_outcomes_total", outcome="scheduled") == 0

    post_ids = [write_post(tenant_id, f"metered {n}") for n in range(2)]
    for post_id in post_ids:
        approve_post(post_id)
    for post_id in post_ids:
        wait_for(lambda: post_row(post_id).status == PostStatus.SCHEDULED, 30, what="scheduled")

    # The outcome is counted right after the task's last commit: wait for the scrape, not a sleep.
    after = wait_for(lambda: (text := scrape(port)) and
                     sample(text, "socialcal_publish_outcomes_total", outcome="scheduled") == 2 and text,
                     15, what="two scheduled outcomes")
    assert sample(after, "socialcal_publish_outcomes_total", outcome="scheduled", error_class="none",
                  code="none") == 2
    assert sample(after, "socialcal_graph_calls_total", route="POST /{page}/feed", outcome="ok", code="none") == 2
    assert sample(after, "socialcal_post_events_total", kind="scheduled", status="scheduled") == 2
    assert sample(after, "socialcal_post_events_total", kind="publish_intent", status="publishing") == 2
    assert sample(after, "socialcal_approve_to_page_seconds_count", status="scheduled") == 2
    assert sample(after, "socialcal_approve_to_page_seconds_bucket", status="scheduled", le="+Inf") == 2
    # Bounded labels: no token, no Page id, no message text anywhere in the exposition.
    for secret_or_id in (page.token, page.page_id, "metered 0", *post_ids):
        assert secret_or_id not in after


def test_a_failed_publish_is_counted_by_error_class_and_graph_code(metered_worker, sandbox):
    port = metered_worker
    page = sandbox.add_page(name="Revoked")
    tenant_id = make_tenant()
    connect(tenant_id, page.page_id, page.token)
    post_id = write_post(tenant_id, "will meet a dead token")
    assert sandbox.revoke_token(page.token)
    approve_post(post_id)
    wait_for(lambda: post_row(post_id).status == PostStatus.FAILED, 30, what="failed")

    text = wait_for(lambda: (t := scrape(port)) and
                    sample(t, "socialcal_publish_outcomes_total", outcome="failed") == 1 and t, 15,
                    what="a failed outcome")
    failed = [s for f in text_string_to_metric_families(text) for s in f.samples
              if s.name == "socialcal_publish_outcomes_total" and s.labels["outcome"] == "failed"]
    assert [(s.labels["error_class"], s.labels["code"].split("/")[0]) for s in failed] == [("AuthError", "190")]
    assert sample(text, "socialcal_graph_calls_total", route="POST /{page}/feed", outcome="AuthError") == 1
    assert sample(text, "socialcal_post_events_total", kind="failed", status="failed") == 1
    assert page.token not in text
