"""The pieces of recovery, on both databases: the lease each write renews, the failed_jobs row that
commits with a post's failure, the start-up sweep, and the outbox for sends the broker refused.

The Graph calls go to the sandbox over HTTP; the domain is called directly (no worker), so each test
sees exactly what one function committed.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update

from graph.errors import GraphError
from models import FailedJob, OutboxMessage, PostStatus, SocialPost, utcnow
from models.db import transaction
from tasks.domain import messaging
from tasks.domain.claim import GateRefused
from tasks.domain.dispatch import recover_after_start
from tasks.domain.failed_jobs import record_failed_job, recorded_job_id
from tasks.domain.publisher import Publisher, publish_post
from tests.support.factories import connect, make_tenant
from tests.support.pipeline import approve_post, post_row, write_post
from worker.core.settings import get_settings

pytestmark = pytest.mark.integration


@pytest.fixture
def tenant(db, sandbox):
    page = sandbox.add_page(name="Lease")
    tenant_id = make_tenant()
    connect(tenant_id, page.page_id, page.token)
    return tenant_id


@pytest.fixture
def sent(monkeypatch):
    """Every message the domain sends, instead of the broker."""
    messages: list[tuple[str, list, dict]] = []
    monkeypatch.setattr(messaging, "_send", lambda name, args, kwargs, options: messages.append((name, args, options)))
    return messages


def _failed_jobs(post_id: str) -> list[FailedJob]:
    with transaction() as session:
        return list(session.query(FailedJob).filter_by(post_id=post_id))


def test_every_fenced_write_renews_the_lease(tenant, sent):
    post_id = write_post(tenant, "renewed")
    approve_post(post_id)
    publisher = Publisher(post_id, "owner-a", get_settings(), lambda integration: None)  # type: ignore[arg-type]
    assert publisher.claim_and_load()
    almost = utcnow() + timedelta(seconds=1)
    with transaction() as session:  # as if the claim were long ago
        session.execute(update(SocialPost).where(SocialPost.id == post_id).values(lease_expires_at=almost,
                                                                                  due_at=almost))
    publisher.renew()
    row = post_row(post_id)
    lease = get_settings().publish_lease_seconds
    assert row.lease_expires_at is not None and row.lease_expires_at > utcnow() + timedelta(seconds=lease - 5)
    assert row.due_at == row.lease_expires_at  # dispatch_due reads due_at for a publishing post


def test_a_graph_failure_writes_its_failed_jobs_row_with_the_post(tenant, sandbox, sent):
    sandbox.set_faults([{"method": "POST", "path": "feed", "mode": "error", "code": 100, "rate": 1.0,
                         "message": "(#100) Invalid parameter"}])
    post_id = write_post(tenant, "invalid for Graph")
    approve_post(post_id)
    with pytest.raises(GraphError) as raised:
        publish_post(post_id, "owner-b", get_settings(), task_id="task-1")
    assert post_row(post_id).status == PostStatus.FAILED
    (job,) = _failed_jobs(post_id)  # committed with the failure: no task on_failure has run here
    assert (job.task_name, job.task_id, job.error_code, job.args) == ("publishing.publish_post", "task-1", "100",
                                                                       [post_id])
    assert recorded_job_id(raised.value) == job.id
    # What the task's on_failure does next writes nothing more for the same failure.
    again = record_failed_job(task_name="publishing.publish_post", task_id="task-1", args=[post_id], kwargs={},
                              error=raised.value, post_id=post_id)
    assert again == job.id and len(_failed_jobs(post_id)) == 1


def test_a_gate_refusal_writes_its_failed_jobs_row_with_the_post(tenant, sent):
    post_id = write_post(tenant, "approved, then edited")
    approve_post(post_id)
    with transaction() as session:
        session.get(SocialPost, post_id).message = "edited after approval"
    with pytest.raises(GateRefused) as raised:
        publish_post(post_id, "owner-c", get_settings(), task_id="task-2")
    (job,) = _failed_jobs(post_id)
    assert job.error_class == "GateRefused" and "content differs" in job.error_message
    assert recorded_job_id(raised.value) == job.id and post_row(post_id).status == PostStatus.FAILED


def test_recovery_after_start_resends_leases_at_expiry_and_every_approved_post_due_soon(tenant, sent):
    now = utcnow()
    expired, leased, due, later, far = (write_post(tenant, f"post {n}") for n in range(5))
    for post_id in (expired, leased, due, later, far):
        approve_post(post_id)
    sent.clear()
    with transaction() as session:
        for post_id, values in {
            expired: {"status": PostStatus.PUBLISHING, "lease_expires_at": now - timedelta(seconds=5)},
            leased: {"status": PostStatus.PUBLISHING, "lease_expires_at": now + timedelta(seconds=40)},
            due: {"due_at": now - timedelta(seconds=1), "enqueued_at": now - timedelta(seconds=1)},
            later: {"due_at": now + timedelta(seconds=100), "enqueued_at": now + timedelta(seconds=100)},
            far: {"due_at": now + timedelta(hours=2)},
        }.items():
            session.execute(update(SocialPost).where(SocialPost.id == post_id).values(**values))
    with transaction() as session:
        counts = recover_after_start(session, now, get_settings())
    assert counts == {"leases": 2, "approved": 2}
    countdowns = {args[0]: options.get("countdown") for _name, args, options in sent}
    assert set(countdowns) == {expired, leased, due, later}  # far is dispatch_due's, in two hours
    assert countdowns[expired] is None and countdowns[due] is None
    assert 40 <= countdowns[leased] <= 42  # a moment after the lease expires, never before
    assert 99 <= countdowns[later] <= 100


def test_a_send_the_broker_refuses_is_kept_and_sent_again(tenant, monkeypatch):
    attempts: list[str] = []

    def broker_down(name, args, kwargs, options):
        attempts.append(name)
        raise ConnectionError("Redis is restarting")

    monkeypatch.setattr(messaging, "_send", broker_down)
    post_id = write_post(tenant, "approved while Redis is down")
    approve_post(post_id)  # committed; its wake-up cannot be sent
    assert attempts == ["publishing.publish_post"]
    with transaction() as session:
        (kept,) = session.query(OutboxMessage).all()
        assert (kept.task_name, kept.args) == ("publishing.publish_post", [post_id])
    with transaction() as session:  # still down: stays kept
        assert messaging.resend_outbox(session, utcnow())["outbox_sent"] == 0
    delivered: list[tuple[str, list]] = []
    monkeypatch.setattr(messaging, "_send", lambda name, args, kwargs, options: delivered.append((name, args)))
    with transaction() as session:
        assert messaging.resend_outbox(session, utcnow())["outbox_sent"] == 1
    assert delivered == [("publishing.publish_post", [post_id])]
    with transaction() as session:
        assert session.query(OutboxMessage).count() == 0
