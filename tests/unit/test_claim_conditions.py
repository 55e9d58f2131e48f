"""The claim's conditions one by one, and what a won claim writes: only this post, only when approved and
due or when its publisher's lease has run out, with a fresh lease. And the gate's reasons word for word
(they reach failed_jobs and the operator). Written against the mutants a mutation run of
tasks/domain/claim.py left alive (bench/mutation.py)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest

from models import Integration, PostEvent, PostStatus, SocialPost, Tenant
from models.db import transaction
from tasks.domain.approval import approve
from tasks.domain.claim import approval_problem, claim, gate_problem, new_lease_owner, status_problem
from tasks.domain.intake import intake
from tests.support.factories import connect, make_tenant
from tests.support.pipeline import row_values
from worker.core.settings import get_settings

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=timezone.utc)


def _aware(moment):
    return moment if moment is None or moment.tzinfo else moment.replace(tzinfo=timezone.utc)


@pytest.fixture
def approved(db, monkeypatch):
    """A factory of approved posts, due at NOW, each with its own tenant and Page."""
    monkeypatch.setattr("tasks.domain.approval.enqueue", lambda *a, **k: None)

    def make(message: str = "Hello") -> str:
        tenant_id = make_tenant()
        connect(tenant_id, "p1", "EAAtokenvalue000000000000000000001")
        with transaction() as s:
            post_id = intake(s, {"tenant_id": tenant_id, "message": message,
                                 "scheduled_at": (NOW + timedelta(days=2)).isoformat()}).post_id
        with transaction() as s:
            assert approve(s, post_id, "ann", s.get(SocialPost, post_id).content_hash, now=NOW).accepted
        return post_id

    return make


def _set(post_id: str, **values) -> None:
    with transaction() as s:
        post = s.get(SocialPost, post_id)
        for key, value in values.items():
            setattr(post, key, value)


def _claim(post_id: str, owner: str = "w1", now: datetime = NOW) -> bool:
    with transaction() as s:
        return claim(s, post_id, owner, get_settings(), now=now)


def test_a_won_claim_writes_a_fresh_lease_as_the_due_time_and_clears_the_enqueue_mark(approved):
    post_id = approved()
    _set(post_id, enqueued_at=NOW)
    assert _claim(post_id, "w1") is True
    row = row_values(post_id)
    lease_until = NOW + timedelta(seconds=get_settings().publish_lease_seconds)
    assert (row["status"], row["lease_owner"], row["attempts"]) == (PostStatus.PUBLISHING, "w1", 1)
    assert _aware(row["lease_expires_at"]) == lease_until and _aware(row["due_at"]) == lease_until
    assert row["enqueued_at"] is None


def test_a_claim_takes_only_the_post_it_names(approved):
    mine, other = approved("one"), approved("two")
    before = row_values(other)
    assert _claim(mine) is True
    assert row_values(other) == before


def test_an_approved_post_without_a_due_time_can_be_claimed(approved):
    post_id = approved()
    _set(post_id, due_at=None)
    assert _claim(post_id) is True


def test_a_publishing_post_is_taken_over_only_once_its_lease_has_run_out(approved):
    post_id = approved()
    assert _claim(post_id, "w1") is True
    expires = _aware(row_values(post_id)["lease_expires_at"])
    assert _claim(post_id, "w2", now=expires) is False  # the lease still holds at its last instant
    assert _claim(post_id, "w2", now=expires + timedelta(microseconds=1)) is True
    row = row_values(post_id)
    assert (row["lease_owner"], row["attempts"]) == ("w2", 2)


@pytest.mark.parametrize("state", [PostStatus.CANCELLED, PostStatus.SCHEDULED, PostStatus.FAILED])
def test_an_old_lease_time_on_a_post_that_is_not_publishing_claims_nothing(approved, state):
    post_id = approved()
    _set(post_id, status=state, due_at=None, lease_owner="gone", lease_expires_at=NOW - timedelta(days=1))
    before = row_values(post_id)
    assert _claim(post_id, now=NOW + timedelta(days=400)) is False
    assert row_values(post_id) == before


def test_a_claim_for_a_post_that_does_not_exist_loses_quietly(db):
    assert _claim("00000000-0000-0000-0000-000000000000") is False


def test_a_refused_claim_audits_the_status_it_found(approved):
    post_id = approved()
    _set(post_id, status=PostStatus.CANCELLED, due_at=None)
    assert _claim(post_id) is False
    with transaction() as s:
        details = [e.detail for e in s.query(PostEvent).filter_by(post_id=post_id, kind="publish_refused")]
    assert details == [{"reason": "post is cancelled, not approved"}]


def test_lease_owners_are_the_task_id_and_a_random_suffix():
    assert re.fullmatch(r"task-1:[0-9a-f]{8}", new_lease_owner("task-1"))
    assert re.fullmatch(r"local:[0-9a-f]{8}", new_lease_owner(None))
    assert new_lease_owner("t") != new_lease_owner("t")


# ----------------------------------------------------------------------------- the gate's reasons, exactly


def test_the_gate_names_each_problem_word_for_word(approved):
    post_id = approved()
    with transaction() as s:
        post = s.get(SocialPost, post_id)
        tenant = s.get(Tenant, post.tenant_id)
        page = s.get(Integration, post.integration_id)
        assert gate_problem(post, tenant, page) is None

        post.approved_hash = None  # approved_by is still set: one missing half is enough to refuse
        assert approval_problem(post, page) == "post has no recorded approval"
        post.approved_hash = post.content_hash
        post.approved_by = None
        assert approval_problem(post, page) == "post has no recorded approval"
        post.approved_by = "ann"

        post.message = "edited after approval"
        assert approval_problem(post, page) == "content differs from what was approved"
        post.message = "Hello"

        assert approval_problem(post, None) == "post has no Facebook Page"
        page.tenant_id = "someone-else"
        assert approval_problem(post, page) == "the Page belongs to another tenant"
        page.tenant_id = post.tenant_id
        page.provider = "instagram"
        assert approval_problem(post, page) == "integration provider is instagram, not facebook"
        page.provider = "facebook"

        assert status_problem(None, page) == "tenant is not active"
        tenant.status = "paused"
        assert status_problem(tenant, page) == "tenant is not active"
        tenant.status = "active"
        page.status = "needs_reconnect"
        assert status_problem(tenant, page) == ("the Page's integration is needs_reconnect: reconnect it with "
                                                "`socialcal facebook connect`")
        s.rollback()
