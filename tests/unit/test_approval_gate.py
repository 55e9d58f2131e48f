"""The approval gate, as plain functions: hash-bound approval, refusals audited, publish gate, the
claim's status condition, and rule 2 (nothing goes live without the tenant's opt-in)."""

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from models import ContentType, PostEvent, PostStatus, SocialPost, Tenant, utcnow
from models.db import transaction
from tasks.domain.approval import approve, reject
from tasks.domain.claim import claim, gate_problem
from tasks.domain.intake import intake
from tasks.domain.publisher import Publisher, Snapshot
from tests.support.factories import connect, make_tenant
from tests.support.pipeline import events, row_values
from worker.core.settings import Settings, get_settings


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


# ----------------------------------------------------------------------------- the claim's status condition

def _approved_post(monkeypatch):
    monkeypatch.setattr("tasks.domain.approval.enqueue", lambda *a, **k: None)
    tenant_id = make_tenant()
    connect(tenant_id, "p1", "EAAtokenvalue000000000000000000001")
    post_id = _post(tenant_id)
    with transaction() as s:
        assert approve(s, post_id, "ann", s.get(SocialPost, post_id).content_hash).accepted
    return post_id


def _cancel(post_id):
    """The UI's cancel, as the domain runs it (no Graph call: the post is not on the Page yet)."""
    from tasks.domain import post_changes

    with transaction() as s:
        change = post_changes.cancel_post(s, post_id, client_factory=lambda _i: pytest.fail("cancel called Graph"))
    assert change.status == PostStatus.CANCELLED


def _on_facebook(post_id, status):
    """The row as Publisher.complete leaves it once the post is on the Page."""
    with transaction() as s:
        post = s.get(SocialPost, post_id)
        post.status, post.external_id = status, "p1_1001"
        post.publish_url, post.graph_ids, post.attempts = "https://www.facebook.com/p1/posts/1001", {"post_id": "p1_1001"}, 1
        post.publish_mode = {"scheduled": "scheduled", "published": "live", "platform_draft": "draft"}[status]
        post.lease_owner = post.lease_expires_at = post.due_at = post.enqueued_at = None
        post.published_at = utcnow() if status == PostStatus.PUBLISHED else None


@pytest.mark.parametrize("state", [PostStatus.CANCELLED, PostStatus.SCHEDULED, PostStatus.PUBLISHED,
                                   PostStatus.PLATFORM_DRAFT])
def test_claim_refuses_a_post_cancelled_after_approval_or_already_on_facebook(db, monkeypatch, state):
    """Only `approved` (or `publishing` with a dead lease) can be claimed. A cancelled post and a post
    already on the Page have no due time left, so the status is all that stops a stale or replayed
    publish_post message: the claim must lose and leave the row exactly as it was."""
    post_id = _approved_post(monkeypatch)
    if state == PostStatus.CANCELLED:
        _cancel(post_id)
    else:
        _on_facebook(post_id, state)
    before = row_values(post_id)
    assert before["status"] == state and before["due_at"] is None
    later = utcnow() + timedelta(days=400)  # past every due time and lease: only the status can refuse

    with transaction() as s:
        assert claim(s, post_id, "intruder", get_settings(), now=later) is False
    assert row_values(post_id) == before

    # The publisher a publish_post message runs: claim lost, nothing loaded, no Graph client made.
    publisher = Publisher(post_id, "intruder", get_settings(), lambda integration: pytest.fail("a Graph client"))
    assert publisher.claim_and_load() is False and publisher.snap is None
    assert row_values(post_id) == before
    if state == PostStatus.CANCELLED:
        assert events(post_id).count("publish_refused") == 2  # each refused message is audited


def test_claim_takes_an_approved_due_post_once(db, monkeypatch):
    """The other side of the condition: the same claim wins for a due approved post, exactly once."""
    post_id = _approved_post(monkeypatch)
    due = row_values(post_id)["due_at"]
    with transaction() as s:
        assert claim(s, post_id, "early", get_settings(), now=due - timedelta(seconds=1)) is False  # not due yet
        assert claim(s, post_id, "first", get_settings(), now=due) is True
    with transaction() as s:
        assert claim(s, post_id, "second", get_settings(), now=due) is False
    row = row_values(post_id)
    assert (row["status"], row["lease_owner"], row["attempts"]) == (PostStatus.PUBLISHING, "first", 1)


# ----------------------------------------------------------------------------- rule 2: never live without opt-in

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)


def _mode(auto_publish, content_type, scheduled_at):
    snap = Snapshot(post_id="p", tenant_id="t", integration=None, content_type=content_type,  # type: ignore[arg-type]
                    message="hello", link=None, media=[], scheduled_at=scheduled_at, auto_publish=auto_publish,
                    graph_ids={}, intent={})
    publisher = Publisher("p", "owner", Settings.from_env({}), lambda integration: pytest.fail("a Graph client"))
    return publisher.choose_mode(snap, NOW)


@hypothesis_settings(max_examples=400, deadline=None)
@given(offset=st.one_of(st.none(), st.timedeltas(min_value=timedelta(days=-800), max_value=timedelta(days=800))),
       content_type=st.sampled_from([c.value for c in ContentType]))
def test_without_auto_publish_no_time_offset_ever_goes_live(offset, content_type):
    """Past, due, minutes away, inside or beyond the scheduling window, no time at all: a tenant that
    did not opt in gets a Facebook-scheduled post or a platform draft, never a live post."""
    mode, scheduled_at, wait_until = _mode(False, content_type, None if offset is None else NOW + offset)
    assert mode in ("scheduled", "draft"), (mode, offset)
    if mode == "scheduled":
        assert scheduled_at is not None and scheduled_at - NOW >= timedelta(minutes=10)  # Facebook's minimum
    else:
        assert scheduled_at is None and wait_until is None


@pytest.mark.parametrize(("offset", "expected"), [
    (timedelta(days=-1), ("live", None, None)),
    (timedelta(0), ("live", None, None)),
    (timedelta(days=2), ("live", None, NOW + timedelta(days=2))),  # waits for its slot, then goes live
])
def test_with_auto_publish_the_post_goes_live_at_its_slot(offset, expected):
    assert _mode(True, "text", NOW + offset) == expected


def test_a_tenant_is_not_opted_in_by_default(db):
    from tasks.domain.tenancy import create_tenant

    with transaction() as s:
        tenant_id = create_tenant(s, name="Default").id
        bare = Tenant(name="Bare", timezone="UTC")
        s.add(bare)
        s.flush()
        bare_id = bare.id
    with transaction() as s:
        assert s.get(Tenant, tenant_id).auto_publish is False
        assert s.get(Tenant, bare_id).auto_publish is False


@pytest.mark.parametrize(("days", "content_type", "window_days"), [
    (28, "text", 29), (30, "text", 29), (40, "photo", 60), (61, "video", 60), (40, "reel", 60),
])
def test_posts_beyond_the_schedule_window_wait_in_the_database(days, content_type, window_days):
    """SOCIALCAL_SCHEDULE_MAX_DAYS (29 by default) decides how far ahead a post is handed to Meta; a
    later post waits (due an hour before it enters the window). Reels never go past Meta's 29 days."""
    settings = Settings.from_env({"SOCIALCAL_SCHEDULE_MAX_DAYS": str(window_days)})
    snap = Snapshot(post_id="p", tenant_id="t", integration=None, content_type=content_type,  # type: ignore[arg-type]
                    message="hello", link=None, media=[], scheduled_at=NOW + timedelta(days=days), auto_publish=False,
                    graph_ids={}, intent={})
    mode, scheduled_at, wait_until = Publisher("p", "owner", settings, lambda i: pytest.fail("a client")) \
        .choose_mode(snap, NOW)
    window = min(window_days, 29) if content_type == "reel" else window_days
    assert mode == "scheduled" and scheduled_at == NOW + timedelta(days=days)
    if days <= window:
        assert wait_until is None
    else:
        assert wait_until == NOW + timedelta(days=days) - timedelta(days=window) + timedelta(hours=1)
