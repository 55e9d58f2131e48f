"""`socialcal status --json` against a live pipeline: a real worker, Redis, the database, the sandbox.

One scene holds every part the report has: a Page publishing normally, a Page whose token died
(needs reconnect, a failed job with Graph code 190), a Page paused in the shared budget with an
approved post due within the hour that is therefore not on Facebook yet, and dispatch_due run by the
worker (beat's pulse). Then the same command with Redis down, and on an empty database.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

import pytest
from click.testing import CliRunner

from graph.budget import page_scope
from models import PostStatus
from tasks.domain.clients import budget_for
from tests.support.factories import connect, make_tenant
from tests.support.pipeline import approve_post, post_row, write_post
from tests.support.stack import ROOT
from tests.support.waits import wait_for
from worker.app import app
from worker.cli import cli
from worker.core.queues import AGENT_QUEUES, WORKER_QUEUES
from worker.core.settings import get_settings

pytestmark = pytest.mark.integration


def status_json(*extra: str) -> tuple[int, dict]:
    result = CliRunner().invoke(cli, ["status", "--json", "--timeout", "2", *extra],
                                                catch_exceptions=False)
    return result.exit_code, json.loads(result.stdout)


def run_cli_subprocess(env_overrides: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **env_overrides}
    return subprocess.run([sys.executable, "-m", "worker.cli", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)


def closed_port_url() -> str:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"redis://127.0.0.1:{port}/1"  # nothing listens there once the probe closes


def test_status_json_reports_a_live_pipeline(db, sandbox, workers):
    worker = workers.start()
    healthy, dead, paused = (sandbox.add_page(name=n) for n in ("Healthy", "Dead token", "Paused"))
    tenant_id, dead_tenant, paused_tenant = (make_tenant(n) for n in ("Healthy", "Dead", "Paused"))
    for tenant, page in ((tenant_id, healthy), (dead_tenant, dead), (paused_tenant, paused)):
        connect(tenant, page.page_id, page.token)

    on_page = write_post(tenant_id, "on the Page")
    approve_post(on_page)
    wait_for(lambda: post_row(on_page).status == PostStatus.SCHEDULED, 30, what="healthy post scheduled")

    assert sandbox.revoke_token(dead.token)
    doomed = write_post(dead_tenant, "meets a dead token")
    approve_post(doomed)
    wait_for(lambda: post_row(doomed).status == PostStatus.FAILED, 30, what="dead-token post failed")

    budget_for(get_settings()).pause(page_scope(paused.page_id), time.time() + 900, "test: Meta said wait")
    soon = (datetime.now(timezone.utc) + timedelta(minutes=40)).replace(microsecond=0).isoformat()
    waiting = write_post(paused_tenant, "held by the pause", when=soon)
    approve_post(waiting)
    # The budget refuses the call: the post goes back to approved, due when the pause ends.
    later = datetime.now(timezone.utc) + timedelta(minutes=10)
    wait_for(lambda: (row := post_row(waiting)).status == PostStatus.APPROVED and row.due_at > later, 30,
             what="paused post handed back to approved")

    app.send_task("publishing.dispatch_due")
    wait_for(lambda: status_json()[1]["beat"]["seconds_ago"] is not None, 30, what="dispatch_due ran")

    code, report = status_json()
    assert code == 0, report["errors"]
    assert report["errors"] == []
    assert set(report["queues"]) == {q.value for q in (*WORKER_QUEUES, *AGENT_QUEUES)} | {"unacked"}
    assert all(isinstance(depth, int) and depth >= 0 for depth in report["queues"].values())
    nodes = {n["name"]: n["queues"] for n in report["workers"]["nodes"]}
    assert nodes.get(worker.node_name) == ["default", "insights", "publish"]
    assert report["workers"]["unconsumed_queues"] == []
    assert report["beat"]["late"] is False and report["beat"]["seconds_ago"] < 120

    pages = {p["page_id"]: p for p in report["budgets"]["pages"]}
    assert pages[healthy.page_id]["calls_in_window"] >= 1 and pages[healthy.page_id]["paused"] == {}
    assert 0 < pages[paused.page_id]["paused"]["page"] <= 900
    assert pages[dead.page_id]["status"] == "needs_reconnect"
    assert 0 < pages[dead.page_id]["paused"]["token"] <= 900  # the auth error paused the dead token

    kinds = {(f["task_name"], f["error_class"], (f["error_code"] or "").split("/")[0]): f["count"]
             for f in report["failures"]["last_24h"]}
    assert kinds.get(("publishing.publish_post", "AuthError", "190")) == 1
    assert report["failures"]["open"] == 1
    assert [p["page_id"] for p in report["needs_reconnect"]] == [dead.page_id]
    assert "reconnect" in report["needs_reconnect"][0]["reason"]

    due = report["due_within_hour"]
    assert [p["post_id"] for p in due["posts"]] == [waiting] and due["count"] == 1 and due["overdue"] == 0
    for secret in (healthy.token, dead.token, paused.token):
        assert secret not in json.dumps(report)

    screen = CliRunner().invoke(cli, ["status", "--timeout", "2"], catch_exceptions=False)
    assert screen.exit_code == 0, screen.output
    lines = screen.stdout.splitlines()
    assert any(line.startswith("workers    1 alive: " + worker.node_name) for line in lines), screen.stdout
    assert any(line.startswith("beat       dispatch_due last ran") and "late" not in line for line in lines)
    assert any(line.startswith("budget     app not paused; 3 Page(s), 2 paused") for line in lines), screen.stdout  # page + dead token
    assert any(line.startswith("failures   1 in the last 24 h (1 open") for line in lines), screen.stdout
    assert any(line.startswith("reconnect  1 Page(s)") for line in lines)
    assert any(line.startswith("due        1 approved post(s) due within the hour") for line in lines)
    assert not any(secret in screen.stdout for secret in (healthy.token, dead.token, paused.token))


def test_status_with_redis_down_says_so_and_exits_non_zero(db):
    result = run_cli_subprocess({"SOCIALCAL_BROKER_URL": closed_port_url(), "SOCIALCAL_DATABASE_URL": db},
                                "status", "--json")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr + result.stdout
    report = json.loads(result.stdout)
    down = {e["part"] for e in report["errors"]}
    assert down == {"queues", "workers", "beat", "budgets"}
    assert all("Redis is unreachable" in e["error"] for e in report["errors"])
    assert report["failures"] == {"last_24h": [], "open": 0}  # the database parts are still there

    text = run_cli_subprocess({"SOCIALCAL_BROKER_URL": closed_port_url(), "SOCIALCAL_DATABASE_URL": db}, "status")
    assert text.returncode == 1 and "Traceback" not in text.stderr
    assert "! queues: Redis is unreachable" in text.stderr


def test_status_on_an_empty_database_with_no_worker(db, redis_client):
    redis_client.flushdb()
    code, report = status_json("--timeout", "0.5")
    assert code == 0 and report["errors"] == []
    assert report["workers"] == {"alive": 0, "nodes": [], "unconsumed_queues": ["publish", "default", "insights"]}
    assert report["beat"]["late"] is True and report["beat"]["dispatch_due_last_run_at"] is None
    assert report["budgets"]["pages"] == [] and report["needs_reconnect"] == []
    assert report["due_within_hour"] == {"count": 0, "overdue": 0, "pending_approval": 0, "posts": []}
