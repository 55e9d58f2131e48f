"""The approval gate, as plain functions: hash-bound approval, refusals audited, publish gate."""

from models import PostEvent, PostStatus, SocialPost, Tenant
from models.db import transaction
from tasks.domain.approval import approve, reject
from tasks.domain.claim import gate_problem
from tasks.domain.intake import intake
from tests.support.factories import connect, make_tenant


def _post(tenant_id, message="Hello"):
    with transaction() as s:
        return intake(s, {"tenant_id": tenant_id, "message": message, "scheduled_at": "2030-01-02T10:00:00Z"}).post_id


def test_approve_refuses_a_hash_that_is_not_the_current_content(db, monkeypatch):
    monkeypatch.setattr("tasks.domain.approval.enqueue", lambda *a, **k: None)
    tenant_id = make_tenant()
    connect(tenant_id, "p1", "EAAtokenvalue000000000000000000001")
    post_id = _post(tenant_id)
    with transaction() as s:
        decision = approve(s, post_id, "ann", "0" * 64)
    assert not decision.accepted and "changed" in decision.reason
    with transaction() as s:
        post = s.get(SocialPost, post_id)
        assert post.status == PostStatus.PENDING_APPROVAL
        assert s.query(PostEvent).filter_by(post_id=post_id, kind="decision_refused").count() == 1
        decision = approve(s, post_id, "ann", post.content_hash)
    assert decision.accepted
    with transaction() as s:
        post = s.get(SocialPost, post_id)
        assert (post.status, post.approved_by, post.approved_hash) == ("approved", "ann", post.content_hash)
        event = s.query(PostEvent).filter_by(post_id=post_id, kind="approved").one()
        assert event.actor == "ann" and event.created_at is not None


def test_reject_records_reason_and_who(db):
    tenant_id = make_tenant()
    connect(tenant_id, "p1", "EAAtokenvalue000000000000000000001")
    post_id = _post(tenant_id)
    with transaction() as s:
        assert reject(s, post_id, "bob", "off brand").accepted
    with transaction() as s:
        event = s.query(PostEvent).filter_by(post_id=post_id, kind="rejected").one()
        assert (event.actor, event.detail["reason"]) == ("bob", "off brand")


def test_publish_gate_checks_hash_tenant_and_integration(db, monkeypatch):
    monkeypatch.setattr("tasks.domain.approval.enqueue", lambda *a, **k: None)
    tenant_id = make_tenant()
    other_tenant = make_tenant("Other")
    integration_id = connect(tenant_id, "p1", "EAAtokenvalue000000000000000000001")
    foreign = connect(other_tenant, "p9", "EAAtokenvalue000000000000000000009")
    post_id = _post(tenant_id)
    with transaction() as s:
        post = s.get(SocialPost, post_id)
        approve(s, post_id, "ann", post.content_hash)
    with transaction() as s:
        post = s.get(SocialPost, post_id)
        tenant = s.get(Tenant, tenant_id)
        from models import Integration
        mine, theirs = s.get(Integration, integration_id), s.get(Integration, foreign)
        assert gate_problem(post, tenant, mine) is None
        assert "another tenant" in gate_problem(post, tenant, theirs)
        post.message = "edited behind the gate's back"
        assert "differs" in gate_problem(post, tenant, mine)
        post.message = "Hello"
        tenant.status = "paused"
        assert "tenant" in gate_problem(post, tenant, mine)
        tenant.status = "active"
        mine.status = "needs_reconnect"
        assert "reconnect" in gate_problem(post, tenant, mine)
        s.rollback()
