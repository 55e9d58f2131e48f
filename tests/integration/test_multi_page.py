"""A tenant with several Pages through real workers, real Redis and the sandbox: one user token
connects three Pages, a month is planned per Page, every writer request (read off the agent queue in
Redis) is answered without naming a Page, and each post lands once on the Page its slot is for.
Pausing the tenant and disconnecting a Page make approved posts wait; resume and reconnect send them.
"""

from __future__ import annotations

import base64
import json
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from click.testing import CliRunner

from models import CalendarSlot, SocialCalendar, SocialPost
from models.db import transaction
from tests.support.pipeline import approve_post, assert_exactly_once, events, future, post_row, write_post
from tests.support.waits import wait_for
from worker.app import app
from worker.cli import cli

pytestmark = pytest.mark.integration

WRITER_QUEUE = "agents.post_writer"


def run(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def writer_requests(redis_client: Any) -> list[dict[str, Any]]:
    """The writer requests waiting in Redis, decoded as the writer agent would (Celery protocol v2)."""
    found = []
    for raw in redis_client.lrange(WRITER_QUEUE, 0, -1):
        message = json.loads(raw)
        assert message["headers"]["task"] == "agents.post_writer.request"
        args, kwargs, _embed = json.loads(base64.b64decode(message["body"]))
        assert kwargs == {} and len(args) == 1
        found.append(args[0])
    return found


def _count(model: Any, **where: Any) -> int:
    with transaction() as session:
        return session.query(model).filter_by(**where).count()


def _next_month() -> str:
    return (datetime.now(timezone.utc).replace(day=1) + timedelta(days=32)).strftime("%Y-%m")


def _three_pages(sandbox: Any) -> tuple[str, list[Any], list[dict[str, Any]]]:
    user_token = f"EAAUserFranchise{uuid.uuid4().hex}"
    pages = [sandbox.add_page(name=f"Franchise {city}", user_token=user_token) for city in ("Hamburg", "Munich", "Cologne")]
    tenant_id = json.loads(run("tenant", "add", "--name", "Franchise", "--timezone", "Europe/Berlin",
                               "--weekdays", "tue", "--times", "10:00", "--posts-per-week", "1", "--json"))["id"]
    connected = json.loads(run("facebook", "connect", "--tenant", tenant_id, "--user-token", user_token, "--json"))
    assert sorted(c["page_id"] for c in connected) == sorted(p.page_id for p in pages)
    return tenant_id, pages, connected


def test_three_pages_one_user_token_every_writer_request_answered_without_a_page(db, sandbox, workers, redis_client):
    # Next month's slots lie up to 60 days ahead: past the default 29-day window they would wait in the
    # database; with the feed reference's 75 days every one is scheduled on its Page now.
    workers.start(SOCIALCAL_SCHEDULE_MAX_DAYS="75")
    tenant_id, pages, connected = _three_pages(sandbox)
    by_integration = {c["integration_id"]: c for c in connected}
    cologne = [c for c in connected if c["page_name"] == "Franchise Cologne"][0]["integration_id"]
    run("tenant", "update", tenant_id, "--page", cologne, "--weekdays", "tue,fri", "--posts-per-week", "2")

    app.send_task("calendar.plan_month", args=[tenant_id, _next_month()])
    wait_for(lambda: _count(SocialCalendar, tenant_id=tenant_id) == 3, 30, what="three Page calendars")
    slots = _count(CalendarSlot, tenant_id=tenant_id)
    requests = wait_for(lambda: (lambda r: r if len(r) == slots else None)(writer_requests(redis_client)), 30,
                        what=f"{slots} writer requests in Redis")
    assert {r["integration_id"] for r in requests} == set(by_integration)
    for request in requests:
        page = by_integration[request["integration_id"]]
        assert (request["page_id"], request["page_name"]) == (page["page_id"], page["page_name"])
        assert request["tenant_id"] == tenant_id and request["timezone"] == "Europe/Berlin"
    per_page = {i: sum(1 for r in requests if r["integration_id"] == i) for i in by_integration}
    assert per_page[cologne] > max(n for i, n in per_page.items() if i != cologne)  # the override: twice a week

    messages: dict[str, list[str]] = {page["page_id"]: [] for page in connected}
    for request in requests:  # the writer answers each request; it never names the Page
        message = f"{request['page_name']}: {request['theme']} ({request['slot_id'][:8]})"
        messages[request["page_id"]].append(message)
        app.send_task("posts.intake", args=[{"tenant_id": tenant_id, "slot_id": request["slot_id"],
                                             "platform": "facebook", "message": message,
                                             "writer_run_id": "test-writer"}])
    wait_for(lambda: _count(SocialPost, tenant_id=tenant_id, status="pending_approval") == len(requests), 30,
             what="every output pending approval")
    with transaction() as session:
        decisions = [(p.id, p.content_hash) for p in session.query(SocialPost).filter_by(tenant_id=tenant_id)]
    for post_id, content_hash in decisions:
        app.send_task("approval.approve", args=[post_id, "ann", content_hash])
    wait_for(lambda: _count(SocialPost, tenant_id=tenant_id, status="scheduled") == len(requests), 60,
             what="every post scheduled on its Page")

    for page in pages:
        assert messages[page.page_id], page
        assert_exactly_once(sandbox, page.page_id, messages[page.page_id])
    with transaction() as session:
        for post in session.query(SocialPost).filter_by(tenant_id=tenant_id):
            assert post.integration_id == session.get(CalendarSlot, post.slot_id).integration_id


def test_pause_and_disconnect_make_approved_posts_wait_and_resume_and_reconnect_send_them(db, sandbox, workers):
    workers.start()
    user_token = f"EAAUserPauseTest{uuid.uuid4().hex}"
    north, south = (sandbox.add_page(name=name, user_token=user_token) for name in ("North", "South"))
    tenant_id = run("tenant", "add", "--name", "Twin Pages").strip()
    connected = {c["page_id"]: c["integration_id"] for c in json.loads(
        run("facebook", "connect", "--tenant", tenant_id, "--user-token", user_token, "--json"))}

    run("tenant", "pause", tenant_id)
    paused_post = write_post(tenant_id, "waits for resume", integration_id=connected[north.page_id], when=future(3))
    approve_post(paused_post)
    wait_for(lambda: "publish_held" in events(paused_post), 30, what="the paused tenant's post held")
    row = post_row(paused_post)
    assert row.status == "approved" and "paused" in row.hold_reason
    assert json.loads(run("tenant", "show", tenant_id, "--json"))["held_posts"] == 1
    run("tenant", "resume", tenant_id)
    wait_for(lambda: post_row(paused_post).status == "scheduled", 30, what="sent after resume")
    assert post_row(paused_post).hold_reason is None

    run("facebook", "disconnect", connected[south.page_id])
    waiting = write_post(tenant_id, "waits for reconnect", integration_id=connected[south.page_id], when=future(3))
    approve_post(waiting)
    wait_for(lambda: "publish_held" in events(waiting), 30, what="the disconnected Page's post held")
    assert post_row(waiting).status == "approved" and "disconnected" in post_row(waiting).hold_reason
    assert_exactly_once(sandbox, south.page_id, [])
    run("facebook", "connect", "--tenant", tenant_id, "--user-token", user_token)
    wait_for(lambda: post_row(waiting).status == "scheduled", 30, what="sent after reconnecting")

    assert_exactly_once(sandbox, north.page_id, ["waits for resume"])
    assert_exactly_once(sandbox, south.page_id, ["waits for reconnect"])
    assert events(waiting)[-4:] == ["publish_held", "hold_released", "publish_intent", "scheduled"]


def test_a_bad_cadence_stored_behind_the_cli_fails_the_plan_task_as_a_bad_message(db, sandbox, workers):
    from models import FailedJob, Tenant

    workers.start()
    page = sandbox.add_page(name="Broken Cadence")
    tenant_id = run("tenant", "add", "--name", "Broken").strip()
    run("facebook", "connect", "--tenant", tenant_id, "--page-id", page.page_id, "--page-token", page.token)
    with transaction() as session:  # as SQL or an older version might have left it
        session.get(Tenant, tenant_id).cadence = {"weekdays": "mon", "times": ["10:00"]}
    app.send_task("calendar.plan_month", args=[tenant_id, _next_month()])

    def failed() -> Any:
        with transaction() as session:
            job = session.query(FailedJob).filter_by(task_name="calendar.plan_month").one_or_none()
            return None if job is None else (job.error_class, job.error_message)

    error_class, message = wait_for(failed, 30, what="the plan task's failed_jobs row")
    assert error_class == "BadMessage"
    assert "cadence.weekdays: expected a list, got str 'mon'" in message and "\n" not in message
    assert _count(SocialCalendar, tenant_id=tenant_id) == 0
