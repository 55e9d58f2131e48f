"""Bulk commands through the CLI against a real worker: the dry run changes nothing, the real run
follows the single-item rules (never twice on the Page), and Redis down changes nothing either."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from click.testing import CliRunner

from models import FailedJob, PostStatus, utcnow
from models.db import transaction
from tests.integration.test_ops_status import closed_port_url, run_cli_subprocess
from tests.support.factories import connect, make_tenant
from tests.support.pipeline import approve_post, assert_exactly_once, live_posts, post_row, write_post
from tests.support.waits import wait_for

pytestmark = pytest.mark.integration


def cli_json(*args: str) -> dict:
    result = CliRunner().invoke(__import__("worker.cli", fromlist=["cli"]).cli, [*args, "--json"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def statuses(post_ids: list[str]) -> list[str]:
    return [post_row(p).status for p in post_ids]


def failing_feed(sandbox, page_id: str, count: int) -> None:
    sandbox.set_faults([{"method": "POST", "path": "feed", "mode": "error", "code": 100, "count": count,
                         "message": "Invalid parameter (planted)", "page_id": page_id}])


@pytest.fixture
def page(db, sandbox):
    record = sandbox.add_page(name="Bulk")
    tenant_id = make_tenant("Bulk")
    connect(tenant_id, record.page_id, record.token)
    return {"tenant_id": tenant_id, "page_id": record.page_id}


def test_posts_retry_replays_failed_publishes_once(page, sandbox, workers):
    workers.start()
    failing_feed(sandbox, page["page_id"], count=2)
    post_ids = [write_post(page["tenant_id"], f"retry me {n}") for n in range(2)]
    for post_id in post_ids:
        approve_post(post_id)
    wait_for(lambda: statuses(post_ids) == ["failed", "failed"], 30, what="both failed with code 100")

    dry = cli_json("posts", "retry", "--tenant", page["tenant_id"], "--dry-run")
    assert dry["dry_run"] is True and dry["count"] == 2 and sorted(dry["ids"]) == sorted(post_ids)
    assert dry["results"] is None and statuses(post_ids) == ["failed", "failed"]

    done = cli_json("posts", "retry", "--tenant", page["tenant_id"])
    assert [r["done"] for r in done["results"]] == [True, True]
    wait_for(lambda: statuses(post_ids) == ["scheduled", "scheduled"], 30, what="retried posts scheduled")
    again = cli_json("posts", "retry", "--tenant", page["tenant_id"])  # an operator runs it twice
    assert again["count"] == 0
    assert_exactly_once(sandbox, page["page_id"], ["retry me 0", "retry me 1"])
    with transaction() as session:
        assert {j.status for j in session.query(FailedJob)} == {"requeued"}  # the jobs were replayed, not bypassed


def test_jobs_requeue_filters_by_task_code_tenant_and_time(page, sandbox, workers):
    workers.start()
    other_tenant = make_tenant("Other")
    failing_feed(sandbox, page["page_id"], count=3)
    post_ids = [write_post(page["tenant_id"], f"requeue me {n}") for n in range(3)]
    for post_id in post_ids:
        approve_post(post_id)
    wait_for(lambda: statuses(post_ids) == ["failed"] * 3, 30, what="three failed with code 100")
    with transaction() as session:  # noise the filters must leave alone
        session.add(FailedJob(task_name="publishing.publish_post", args=[], kwargs={}, error_class="AuthError",
                              error_message="dead", error_code="190/463", tenant_id=page["tenant_id"]))
        session.add(FailedJob(task_name="publishing.publish_post", args=[], kwargs={}, error_class="InvalidRequest",
                              error_message="x", error_code="100", tenant_id=other_tenant))
        session.add(FailedJob(task_name="insights.pull_page", args=[], kwargs={}, error_class="InvalidRequest",
                              error_message="x", error_code="100", tenant_id=page["tenant_id"]))
        old = FailedJob(task_name="publishing.publish_post", args=[], kwargs={}, error_class="InvalidRequest",
                        error_message="old", error_code="100", tenant_id=page["tenant_id"])
        old.created_at = utcnow() - timedelta(days=3)
        session.add(old)
    with transaction() as session:
        wanted = sorted(j.id for j in session.query(FailedJob).filter(FailedJob.post_id.in_(post_ids)))
    filters = ["--task", "publishing.publish_post", "--code", "100", "--tenant", page["tenant_id"], "--since", "24h"]
    dry = cli_json("jobs", "requeue", *filters, "--dry-run")
    assert dry["count"] == 3 and sorted(dry["ids"]) == wanted
    assert cli_json("jobs", "requeue", "--code", "190", "--dry-run")["count"] == 1  # 190 matches 190/463
    assert cli_json("jobs", "requeue", "--tenant", page["tenant_id"], "--until", "2d", "--dry-run")["count"] == 1
    assert statuses(post_ids) == ["failed"] * 3

    limited = cli_json("jobs", "requeue", *filters, "--limit", "2")
    assert limited["count"] == 3 and len(limited["results"]) == 2
    rest = cli_json("jobs", "requeue", *filters)
    assert rest["count"] == 1
    wait_for(lambda: statuses(post_ids) == ["scheduled"] * 3, 30, what="requeued posts scheduled")
    assert_exactly_once(sandbox, page["page_id"], [f"requeue me {n}" for n in range(3)])
    with transaction() as session:
        untouched = session.query(FailedJob).filter(FailedJob.status == "failed").count()
    assert untouched == 4


def test_posts_cancel_off_and_on_the_page(page, sandbox, workers):
    workers.start()
    pending = [write_post(page["tenant_id"], f"never approved {n}") for n in range(2)]
    scheduled = write_post(page["tenant_id"], "on the Page, then cancelled")
    approve_post(scheduled)
    wait_for(lambda: post_row(scheduled).status == PostStatus.SCHEDULED, 30, what="scheduled")

    dry = cli_json("posts", "cancel", "--tenant", page["tenant_id"], "--status", "pending_approval", "--dry-run")
    assert dry["count"] == 2 and sorted(dry["ids"]) == sorted(pending)
    assert statuses(pending) == ["pending_approval"] * 2
    cli_json("posts", "cancel", "--tenant", page["tenant_id"], "--status", "pending_approval")
    assert statuses(pending) == ["cancelled"] * 2  # not on Facebook: cancelled at once

    on_page = cli_json("posts", "cancel", "--tenant", page["tenant_id"], "--status", "scheduled")
    assert "publishing.cancel_post" in on_page["results"][0]["note"]
    wait_for(lambda: post_row(scheduled).status == PostStatus.CANCELLED, 30, what="cancelled by the worker")
    assert live_posts(sandbox, page["page_id"]) == []  # the worker deleted it from the Page


def test_bulk_commands_with_redis_down_change_nothing(page, sandbox, workers):
    workers.start()
    failing_feed(sandbox, page["page_id"], count=1)
    post_id = write_post(page["tenant_id"], "stays failed")
    approve_post(post_id)
    wait_for(lambda: post_row(post_id).status == PostStatus.FAILED, 30, what="failed")
    env = {"SOCIALCAL_BROKER_URL": closed_port_url(), "SOCIALCAL_DATABASE_URL": page_db(page)}
    for args in (["jobs", "requeue", "--task", "publishing.publish_post"],
                 ["posts", "retry", "--tenant", page["tenant_id"]],
                 ["posts", "cancel", "--tenant", page["tenant_id"], "--status", "failed"]):
        result = run_cli_subprocess(env, *args)
        assert result.returncode == 1, result.stdout
        assert "Traceback" not in result.stderr + result.stdout
        assert "the broker (Redis) is unreachable" in result.stderr and "nothing was changed" in result.stderr
    assert post_row(post_id).status == PostStatus.FAILED
    dry = run_cli_subprocess(env, "posts", "retry", "--tenant", page["tenant_id"], "--dry-run", "--json")
    assert dry.returncode == 0 and json.loads(dry.stdout)["ids"] == [post_id]  # a dry run needs no broker


def test_bulk_commands_on_an_empty_database(db):
    assert cli_json("jobs", "requeue", "--task", "publishing.publish_post", "--dry-run")["count"] == 0
    assert cli_json("posts", "retry", "--tenant", "no-such-tenant")["results"] == []
    missing = CliRunner().invoke(__import__("worker.cli", fromlist=["cli"]).cli, ["jobs", "requeue"])
    assert missing.exit_code != 0 and "name job ids, or filter" in missing.output


def page_db(page) -> str:
    import os

    return os.environ["SOCIALCAL_DATABASE_URL"]
