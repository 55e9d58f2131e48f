"""The same path by hand: `socialcal` commands against the sandbox, a real worker publishing."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from tests.support.pipeline import future
from tests.support.waits import wait_for
from worker.cli import cli

pytestmark = pytest.mark.integration


def run(*args: str, input: str | None = None, ok: bool = True) -> str:
    result = CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)
    if ok:
        assert result.exit_code == 0, result.output
    return result.output


def test_connect_intake_approve_show(db, sandbox, workers, tmp_path):
    workers.start()
    import uuid

    user_token = f"EAAUserTokenForCliTest{uuid.uuid4().hex}"  # the sandbox keeps Pages across tests
    first = sandbox.add_page(name="Bakery", user_token=user_token)
    second = sandbox.add_page(name="Bakery Outlet", user_token=user_token)
    tenant_id = run("tenant", "add", "--name", "Bakery Co").strip()

    connected = json.loads(run("facebook", "connect", "--tenant", tenant_id, "--user-token", user_token, "--json"))
    assert {c["page_id"] for c in connected} == {first.page_id, second.page_id}
    again = json.loads(run("facebook", "connect", "--tenant", tenant_id, "--user-token", user_token, "--json"))
    assert not any(c["created"] for c in again)  # re-running updates, never duplicates
    integration_id = [c for c in connected if c["page_id"] == first.page_id][0]["integration_id"]

    good = {"tenant_id": tenant_id, "integration_id": integration_id, "message": "Fresh bread", "scheduled_at": future()}
    bad = {"tenant_id": tenant_id, "integration_id": integration_id, "message": "",
           "media": [{"url": "http://insecure/x.jpg", "type": "image"}], "scheduled_at": future()}
    path = tmp_path / "writer.json"
    path.write_text(json.dumps([good, bad]))
    result = CliRunner().invoke(cli, ["intake", str(path), "--json"])
    assert result.exit_code == 1  # one output is invalid: say so
    outcomes = json.loads(result.output)
    assert [o["status"] for o in outcomes] == ["pending_approval", "invalid"]
    assert any("https" in r for r in outcomes[1]["reasons"])
    post_id = outcomes[0]["post_id"]

    refused = CliRunner().invoke(cli, ["approve", outcomes[1]["post_id"], "--by", "ann"])
    assert refused.exit_code == 1 and "not approved" in refused.output and "Traceback" not in refused.output
    run("approve", post_id, "--by", "ann")
    shown = wait_for(lambda: (lambda d: d if d["status"] == "scheduled" else None)(
        json.loads(run("posts", "show", post_id, "--json"))), 30, what="scheduled via CLI path")
    assert shown["approved_by"] == "ann" and shown["external_id"]
    assert [e["kind"] for e in shown["events"]][:2] == ["written", "approved"]
    posts_on_page = [p for p in sandbox.objects(first.page_id)["posts"] if not p["deleted"]]
    assert [p["message"] for p in posts_on_page] == ["Fresh bread"]

    listing = json.loads(run("posts", "list", "--tenant", tenant_id, "--json"))
    assert {p["status"] for p in listing} == {"scheduled", "invalid"}
    dump = json.dumps(listing) + json.dumps(shown) + json.dumps(connected)
    assert first.token not in dump and user_token not in dump


def test_user_mistakes_are_one_line_errors(db):
    missing = CliRunner().invoke(cli, ["posts", "show", "00000000-0000-0000-0000-000000000000"])
    assert missing.exit_code == 1 and missing.output.strip().startswith("Error: no post")
    bad_plan = CliRunner().invoke(cli, ["plan", "--tenant", "00000000-0000-0000-0000-000000000000",
                                        "--month", "2026/12"])
    assert bad_plan.exit_code == 1 and "YYYY-MM" in bad_plan.output
    bad_id = CliRunner().invoke(cli, ["plan", "--tenant", "x", "--month", "2026-12"])
    assert bad_id.exit_code == 1 and bad_id.output.strip().startswith("Error: --tenant must be an id")
    env = {"SOCIALCAL_GRAPH_CALLS_PER_HOUR": "-1", "PATH": "/usr/bin:/bin"}
    proc = subprocess.run([sys.executable, "-m", "worker.cli", "posts", "list"], env=env, capture_output=True, text=True)
    assert proc.returncode != 0
    assert proc.stderr.strip().splitlines() == ["Error: SOCIALCAL_GRAPH_CALLS_PER_HOUR: must be at least 1, got -1"]
