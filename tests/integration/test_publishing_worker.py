"""The HITL path through real Celery workers, real Redis, the database and the sandbox over HTTP.

Every test ends by checking the sandbox Page holds every approved post exactly once and nothing else.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from models import PostStatus, SocialPost
from models.db import transaction
from tasks.domain.dispatch import dispatch_due
from tests.support.factories import connect, make_tenant
from tests.support.pipeline import (
    approve_post,
    assert_exactly_once,
    aware,
    events,
    future,
    post_row,
    row_values,
    write_post,
)
from tests.support.waits import wait_for
from tests.support.worker_logs import settled, task_runs
from worker.app import app
from worker.core.settings import get_settings

pytestmark = pytest.mark.integration


def _status(post_id: str, *wanted: str):
    return lambda: post_row(post_id).status in wanted


@pytest.fixture
def page(db, sandbox):
    record = sandbox.add_page(name="Cafe")
    tenant_id = make_tenant()
    integration_id = connect(tenant_id, record.page_id, record.token, "Cafe")
    return {"tenant_id": tenant_id, "integration_id": integration_id, "page_id": record.page_id,
            "token": record.token, "record": record}


def test_plan_to_scheduled_post_through_the_worker(page, sandbox, workers, monkeypatch):
    from datetime import datetime, timezone

    from tasks.domain.planning import plan_month
    from tests.support.pipeline import live_posts

    # Next month's slots lie 30-60 days ahead: beyond the default 29-day window they would wait in the
    # database (tests/unit/test_approval_gate.py); the feed reference's 75 days lets them go out now.
    monkeypatch.setenv("SOCIALCAL_SCHEDULE_MAX_DAYS", "75")
    get_settings.cache_clear()
    workers.start(SOCIALCAL_SCHEDULE_MAX_DAYS="75")
    month = (datetime.now(timezone.utc).replace(day=1) + __import__("datetime").timedelta(days=40)).strftime("%Y-%m")
    with transaction() as s:
        slot_ids = plan_month(s, page["tenant_id"], month).slot_ids
    assert slot_ids
    post_ids = [write_post(page["tenant_id"], f"Post {i}", slot_id=slot_id, when=None, scheduled_at=None)
                for i, slot_id in enumerate(slot_ids[:3])]
    for post_id in post_ids:
        approve_post(post_id)
    for post_id in post_ids:
        wait_for(_status(post_id, PostStatus.SCHEDULED), 30, what=f"{post_id} scheduled")
    assert_exactly_once(sandbox, page["page_id"], [f"Post {i}" for i in range(3)])
    for post_id in post_ids:
        row = post_row(post_id)
        on_page = [p for p in live_posts(sandbox, page["page_id"]) if p["id"] == row.external_id][0]
        assert on_page["status"] == "scheduled"
        assert on_page["scheduled_publish_time"] == int(row.scheduled_at.timestamp())
        assert row.publish_url and row.external_id
        assert events(post_id)[-3:] == ["approved", "publish_intent", "scheduled"]


def test_near_slot_becomes_a_platform_draft_and_auto_publish_goes_live(db, sandbox, workers):
    workers.start()
    a = sandbox.add_page(name="A")
    b = sandbox.add_page(name="B")
    plain, live = make_tenant("plain"), make_tenant("live", auto_publish=True)
    connect(plain, a.page_id, a.token)
    connect(live, b.page_id, b.token)
    draft_id = write_post(plain, "soon", when=future(days=0.002))
    live_id = write_post(live, "now", when=future(days=-0.01))
    approve_post(draft_id)
    approve_post(live_id)
    wait_for(_status(draft_id, PostStatus.PLATFORM_DRAFT), 30, what="draft")
    wait_for(_status(live_id, PostStatus.PUBLISHED), 30, what="published")
    assert [p["status"] for p in sandbox.objects(a.page_id)["posts"]] == ["draft"]
    assert [p["status"] for p in sandbox.objects(b.page_id)["posts"]] == ["published"]
    assert_exactly_once(sandbox, a.page_id, ["soon"])
    assert_exactly_once(sandbox, b.page_id, ["now"])


def test_gate_refusals_send_nothing(page, sandbox, workers, redis_client):
    workers.start()
    other_page = sandbox.add_page(name="Other")
    other_tenant = make_tenant("Other")
    foreign_integration = connect(other_tenant, other_page.page_id, other_page.token)

    never_approved = write_post(page["tenant_id"], "not approved")
    edited = write_post(page["tenant_id"], "approved then edited", when=future(days=80))
    foreign = write_post(page["tenant_id"], "foreign page", when=future(days=80))
    approve_post(edited)
    approve_post(foreign)
    with transaction() as s:
        s.get(SocialPost, edited).message = "sneaky edit after approval"
        # Forge a consistent approval for another tenant's Page, so only the tenant check can catch it.
        from tasks.domain.approval import current_hash
        forged = s.get(SocialPost, foreign)
        forged.integration_id = foreign_integration
        forged.content_hash = forged.approved_hash = current_hash(forged)
        for post_id in (edited, foreign):
            # Due now, and inside Facebook's scheduling window (the time is not part of the approved
            # content): past the gate, each would be sent at once.
            s.get(SocialPost, post_id).scheduled_at = datetime.now(timezone.utc) + timedelta(days=2)
            s.get(SocialPost, post_id).due_at = None

    calls_before = sandbox.stats()["total_calls"]
    for post_id in (never_approved, edited, foreign):
        app.send_task("publishing.publish_post", args=[post_id])  # forged straight onto the queue
    wait_for(lambda: all(task_runs(workers.logs(), "publishing.publish_post", post_id)
                         for post_id in (never_approved, edited, foreign))
             and settled(workers.logs(), redis_client), 20, what="every forged message to have run")
    # Not one Graph call of any kind (a create, an upload, a listing) for any of the three.
    stats = sandbox.stats()
    assert stats["total_calls"] == calls_before == 0, stats["calls_by_route"]
    assert stats["calls_by_route"] == {} and stats["calls_by_token"] == {}, stats["calls_by_route"]
    assert "publish_refused" in events(never_approved)
    assert post_row(edited).status == post_row(foreign).status == PostStatus.FAILED
    assert "differs from what was approved" in post_row(edited).last_error
    assert "another tenant" in post_row(foreign).last_error
    assert post_row(never_approved).status == PostStatus.PENDING_APPROVAL
    assert_exactly_once(sandbox, page["page_id"], [])
    assert_exactly_once(sandbox, other_page.page_id, [])
    from models import FailedJob
    with transaction() as s:
        reasons = {j.post_id: j for j in s.query(FailedJob)}
    assert reasons[edited].error_class == "GateRefused"


def test_same_message_to_two_workers_publishes_once(page, sandbox, workers, redis_client):
    sandbox.set_faults(latency_ms=300)
    workers.start(name="first")
    workers.start(name="second")
    post_id = write_post(page["tenant_id"], "only once")
    approve_post(post_id)  # sends the first message
    for _ in range(5):
        app.send_task("publishing.publish_post", args=[post_id])
    wait_for(_status(post_id, PostStatus.SCHEDULED), 30, what="scheduled")
    # Every copy ran to its claim: six runs, one publish, five lost claims.
    wait_for(lambda: len(task_runs(workers.logs(), "publishing.publish_post", post_id)) == 6
             and settled(workers.logs(), redis_client), 30, what="all six copies to have run")
    runs = task_runs(workers.logs(), "publishing.publish_post", post_id)
    assert sum("'status': 'scheduled'" in run for run in runs) == 1, runs
    assert sum("'status': 'skipped'" in run for run in runs) == 5, runs
    assert_exactly_once(sandbox, page["page_id"], ["only once"])
    assert post_row(post_id).attempts == 1
    assert sandbox.stats()["calls_by_route"] == {"POST feed": 1}


def test_killed_mid_publish_is_recovered_by_dispatch_due(page, sandbox, workers, monkeypatch):
    lease = 6  # at least two Graph timeouts (3 s): the settings refuse a lease a call could outlast
    # The sandbox applies the create call at once and holds its answer; the victim is killed while it
    # waits for it (the kill follows the apply within a poll, well inside its 3 s timeout), so the
    # outcome is on the Page, not in our DB.
    # (Killing as soon as the in-flight mark shows could land before the request is even sent.)
    sandbox.set_faults([{"method": "POST", "path": "feed", "mode": "timeout", "rate": 1.0, "count": 1,
                         "seconds": 120}])
    victim = workers.start(name="victim", SOCIALCAL_PUBLISH_LEASE_SECONDS=str(lease))
    post_id = write_post(page["tenant_id"], "survives a SIGKILL")
    approve_post(post_id)
    wait_for(lambda: (post_row(post_id).publish_intent or {}).get("in_flight"), 20, what="create call in flight")
    wait_for(lambda: len(sandbox.objects(page["page_id"])["posts"]) == 1, 20, interval=0.05,
             what="the sandbox to apply the call")
    victim.kill()
    assert post_row(post_id).status == PostStatus.PUBLISHING
    sandbox.set_faults([])
    # Recovery at start is off here: this test shows the dispatch_due backstop on its own.
    workers.start(name="rescuer", SOCIALCAL_PUBLISH_LEASE_SECONDS=str(lease), SOCIALCAL_RECOVER_ON_START="off")
    wait_for(lambda: aware(post_row(post_id).lease_expires_at) < datetime.now(timezone.utc), lease + 20,
             interval=0.25, what="the dead worker's lease to expire")
    monkeypatch.setenv("SOCIALCAL_REDISPATCH_AFTER_SECONDS", "1")
    get_settings.cache_clear()
    with transaction() as s:
        counts = dispatch_due(s, datetime.now(timezone.utc), get_settings())
    assert counts["expired_leases"] == 1
    wait_for(_status(post_id, PostStatus.SCHEDULED), 30, what="recovered")
    assert "reconciled" in events(post_id)
    assert_exactly_once(sandbox, page["page_id"], ["survives a SIGKILL"])


@pytest.mark.parametrize("content", ["text", "album"])
def test_apply_then_fail_is_reconciled_not_resent(page, sandbox, workers, content):
    workers.start()
    sandbox.set_faults([{"method": "POST", "path": "feed", "mode": "apply_then_fail", "rate": 1.0, "count": 1}])
    media = [{"url": f"https://cdn.example/{i}.jpg", "type": "image"} for i in range(3)] if content == "album" else None
    extra = {"media": media} if media else {}
    post_id = write_post(page["tenant_id"], f"ambiguous {content}", **extra)
    approve_post(post_id)
    wait_for(_status(post_id, PostStatus.SCHEDULED), 40, what="scheduled after reconcile")
    assert "reconciled" in events(post_id)
    assert_exactly_once(sandbox, page["page_id"], [f"ambiguous {content}"])
    if content == "album":
        row = post_row(post_id)
        assert len(row.graph_ids["photos"]) == 3
        assert len(sandbox.objects(page["page_id"])["photos"]) == 3


# ----------------------------------------------------------------------------- messages the claim must refuse

def test_a_publish_message_for_a_post_cancelled_after_approval_sends_nothing(page, sandbox, workers, redis_client):
    """Approval queued a publish message; the post is cancelled before a worker takes it. That stale
    message (and a replayed copy) must lose the claim: nothing reaches the Page, the row stays as the
    cancellation left it."""
    post_id = write_post(page["tenant_id"], "cancelled after approval")
    approve_post(post_id)  # its publish message waits on the `publish` queue: no worker reads it yet
    # Start-up recovery off: it would re-send the approved post's wake-up, a third message; this test
    # is about the two stale ones.
    workers.start(queues=("default",), name="ops", SOCIALCAL_RECOVER_ON_START="off")
    app.send_task("publishing.cancel_post", args=[post_id], queue="default")  # overtakes the waiting message
    wait_for(_status(post_id, PostStatus.CANCELLED), 20, what="cancelled")
    before = row_values(post_id)
    assert before["due_at"] is None and sandbox.stats()["total_calls"] == 0

    workers.start(queues=("publish",), name="publisher", SOCIALCAL_RECOVER_ON_START="off")
    app.send_task("publishing.publish_post", args=[post_id])  # a replayed copy as well
    wait_for(lambda: len(task_runs(workers.logs(), "publishing.publish_post", post_id)) == 2
             and settled(workers.logs(), redis_client), 30, what="both publish messages to have run")
    runs = task_runs(workers.logs(), "publishing.publish_post", post_id)
    assert all("'status': 'skipped'" in run for run in runs), runs
    stats = sandbox.stats()
    assert stats["total_calls"] == 0, stats["calls_by_route"]
    assert row_values(post_id) == before
    assert events(post_id).count("publish_refused") == 2
    assert_exactly_once(sandbox, page["page_id"], [])


@pytest.mark.parametrize("on_page", [PostStatus.SCHEDULED, PostStatus.PUBLISHED])
def test_a_publish_message_for_a_post_already_on_facebook_sends_nothing(db, sandbox, workers, redis_client, on_page):
    """A redelivered or replayed publish message for a post that is already on the Page (scheduled
    there, or published live for an auto_publish tenant) loses the claim: no Graph call, row unchanged."""
    record = sandbox.add_page(name="Bistro")
    tenant_id = make_tenant("Bistro", auto_publish=on_page == PostStatus.PUBLISHED)
    connect(tenant_id, record.page_id, record.token, "Bistro")
    workers.start()
    when = future(days=-0.01) if on_page == PostStatus.PUBLISHED else future()
    post_id = write_post(tenant_id, f"already {on_page}", when=when)
    approve_post(post_id)
    wait_for(_status(post_id, on_page), 30, what=on_page)
    wait_for(lambda: settled(workers.logs(), redis_client), 20, what="the publish to finish")
    before, calls_before = row_values(post_id), sandbox.stats()["total_calls"]
    assert before["due_at"] is None and before["external_id"]
    published_in = len(task_runs(workers.logs(), "publishing.publish_post", post_id))

    for _ in range(2):
        app.send_task("publishing.publish_post", args=[post_id])
    wait_for(lambda: len(task_runs(workers.logs(), "publishing.publish_post", post_id)) == published_in + 2
             and settled(workers.logs(), redis_client), 30, what="both copies to have run")
    runs = task_runs(workers.logs(), "publishing.publish_post", post_id)[published_in:]
    assert all("'status': 'skipped'" in run for run in runs), runs
    assert sandbox.stats()["total_calls"] == calls_before, sandbox.stats()["calls_by_route"]
    assert row_values(post_id) == before
    assert_exactly_once(sandbox, record.page_id, [f"already {on_page}"])
    assert [p["status"] for p in sandbox.objects(record.page_id)["posts"]] == \
        ["published" if on_page == PostStatus.PUBLISHED else "scheduled"]
