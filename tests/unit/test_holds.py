"""Operator holds: a paused tenant's or a disconnected Page's approved posts wait (never fail, never
sent), and resume or reconnect sends them. Driven through ``publish_post`` with a Graph client that
must never be built while a post is held."""

from __future__ import annotations

from datetime import timedelta

import pytest

from models import PostEvent, PostStatus, SocialPost, utcnow
from models.crypto import get_cipher
from models.db import transaction
from tasks.domain.connect import store_page
from tasks.domain.holds import HOLD_RECHECK
from tasks.domain.integrations import IntegrationNotFound, disconnect_integration
from tasks.domain.publisher import publish_post
from tasks.domain.tenancy import pause_tenant, resume_tenant
from tests.support.factories import connect, make_tenant
from tests.support.pipeline import approve_post, future, post_row, write_post
from worker.core.settings import get_settings


def no_graph(_integration):
    raise AssertionError("a held post must not reach the Graph API")


@pytest.fixture
def queued(monkeypatch):
    """Publish wake-ups sent after commit, captured (no broker in unit tests)."""
    sent: list[tuple] = []
    for module in ("tasks.domain.holds", "tasks.domain.approval"):
        monkeypatch.setattr(f"{module}.enqueue", lambda session, name, *args, **kw: sent.append((str(name), args)))
    return sent


def _approved_due_now(tenant_id: str, message: str) -> str:
    post_id = write_post(tenant_id, message, when=future(days=3))
    approve_post(post_id)
    return post_id


def _events(post_id: str, kind: str) -> list[PostEvent]:
    with transaction() as s:
        rows = s.query(PostEvent).filter_by(post_id=post_id, kind=kind).all()
        for row in rows:
            s.expunge(row)
        return rows


def _bring_due(post_id: str) -> None:
    with transaction() as s:
        s.get(SocialPost, post_id).due_at = utcnow() - timedelta(seconds=1)


def test_a_paused_tenants_approved_post_waits_and_resume_sends_it(db, queued):
    tenant_id = make_tenant()
    connect(tenant_id, "p1", "EAAtokenvalue000000000000000000001")
    post_id = _approved_due_now(tenant_id, "wait for me")
    with transaction() as s:
        paused = pause_tenant(s, tenant_id)
    assert paused["approved_waiting"] == 1

    before = utcnow()
    outcome = publish_post(post_id, "w1", get_settings(), client_factory=no_graph)
    assert outcome["status"] == "held" and "paused" in outcome["reason"]
    row = post_row(post_id)
    assert row.status == PostStatus.APPROVED and "tenant resume" in row.hold_reason
    assert row.due_at >= before + HOLD_RECHECK - timedelta(seconds=5)
    assert row.attempts == 0 and row.lease_owner is None and row.last_error is None
    _bring_due(post_id)  # the hourly re-check while still paused: held again, one audit row only
    assert publish_post(post_id, "w2", get_settings(), client_factory=no_graph)["status"] == "held"
    assert len(_events(post_id, "publish_held")) == 1

    queued.clear()
    with transaction() as s:
        resumed = resume_tenant(s, tenant_id)
    assert resumed["released"] == 1
    assert queued == [("publishing.publish_post", (post_id,))]
    row = post_row(post_id)
    assert row.due_at <= utcnow() and row.status == PostStatus.APPROVED
    assert [e.actor for e in _events(post_id, "hold_released")] == ["operator"]


def test_a_disconnected_pages_posts_wait_and_reconnecting_sends_them(db, queued):
    tenant_id = make_tenant()
    integration_id = connect(tenant_id, "p1", "EAAtokenvalue000000000000000000001")
    connect(tenant_id, "p2", "EAAtokenvalue000000000000000000002")  # so the output names its Page
    post_id = write_post(tenant_id, "for page one", when=future(days=3), integration_id=integration_id)
    approve_post(post_id)
    with transaction() as s:
        result = disconnect_integration(s, integration_id)
    assert result["status"] == "disabled" and result["approved_waiting"] == 1
    outcome = publish_post(post_id, "w1", get_settings(), client_factory=no_graph)
    assert outcome["status"] == "held" and "disconnected" in outcome["reason"]
    assert post_row(post_id).status == PostStatus.APPROVED

    queued.clear()
    with transaction() as s:  # the operator connects the Page again (a fresh token)
        store_page(s, get_cipher(), tenant_id=tenant_id, page_id="p1", page_name="Page",
                   page_token="EAAtokenvalue00000000000000000new1")
    assert queued == [("publishing.publish_post", (post_id,))]
    assert [e.actor for e in _events(post_id, "hold_released")] == ["reconnect"]
    with transaction() as s:
        assert s.get(SocialPost, post_id).hold_reason  # cleared only when the gate lets it through


def test_disconnecting_an_unknown_integration_is_a_plain_error(db):
    with transaction() as s:
        with pytest.raises(IntegrationNotFound, match="no Facebook Page integration"):
            disconnect_integration(s, "00000000-0000-0000-0000-000000000000")


def test_a_page_that_needs_reconnecting_still_fails_the_post_as_before(db, queued):
    tenant_id = make_tenant()
    integration_id = connect(tenant_id, "p1", "EAAtokenvalue000000000000000000001")
    post_id = _approved_due_now(tenant_id, "token died")
    with transaction() as s:
        from models import Integration
        s.get(Integration, integration_id).status = "needs_reconnect"
    from tasks.domain.claim import GateRefused
    with pytest.raises(GateRefused):
        publish_post(post_id, "w1", get_settings(), client_factory=no_graph)
    assert post_row(post_id).status == PostStatus.FAILED and post_row(post_id).hold_reason is None
