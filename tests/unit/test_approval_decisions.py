"""Every branch of the approval gate, checked on its whole answer: the Decision, the row, the audit event
and the message it enqueues. Written against the mutants a mutation run of tasks/domain/approval.py left
alive (bench/mutation.py): each test here fails with one of them."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import structlog
from sqlalchemy import event

from models import PostEvent, PostStatus, SocialPost
from models.db import transaction
from tasks.domain.approval import (
    WINDOW_MARGIN,
    Decision,
    approve,
    current_hash,
    lock_post,
    reject,
    scheduling_window,
)
from tasks.domain.errors import BadMessage
from tasks.domain.intake import intake
from tests.support.factories import connect, make_tenant
from worker.core.queues import TaskName

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=timezone.utc)


@pytest.fixture
def sent(monkeypatch):
    """The messages approval enqueues, as (task name, args) (the session must be the caller's)."""
    calls: list[tuple[str, tuple[object, ...]]] = []

    def enqueue(session, name, *args, **kwargs):
        assert session is not None and hasattr(session, "execute")
        calls.append((name, args))

    monkeypatch.setattr("tasks.domain.approval.enqueue", enqueue)
    return calls


def _post(*, auto_publish: bool = False, when: datetime | None = NOW + timedelta(days=2), **payload) -> str:
    tenant_id = make_tenant(auto_publish=auto_publish)
    connect(tenant_id, "p1", "EAAtokenvalue000000000000000000001")
    body = {"tenant_id": tenant_id, "message": "Hello", **payload}
    if when is not None:
        body["scheduled_at"] = when.isoformat()
    with transaction() as s:
        result = intake(s, body)
    assert not result.reasons, result.reasons
    return result.post_id


def _set(post_id: str, **values) -> None:
    with transaction() as s:
        post = s.get(SocialPost, post_id)
        for key, value in values.items():
            setattr(post, key, value)


def _hash(post_id: str, **kwargs) -> str:
    with transaction() as s:
        return current_hash(s.get(SocialPost, post_id), **kwargs)


def _approve(post_id: str, shown: str | None = None, approver: str = "ann", now: datetime = NOW) -> Decision:
    with transaction() as s:
        shown = shown if shown is not None else s.get(SocialPost, post_id).content_hash
        return approve(s, post_id, approver, shown, now=now)


def _events(post_id: str, kind: str) -> list[tuple[str | None, dict]]:
    with transaction() as s:
        return [(e.actor, e.detail) for e in s.query(PostEvent).filter_by(post_id=post_id, kind=kind)]


def _aware(moment: datetime | None) -> datetime | None:
    return moment if moment is None or moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _row(post_id: str) -> SocialPost:
    with transaction() as s:
        post = s.get(SocialPost, post_id)
        s.expunge(post)
        return post


# ----------------------------------------------------------------------------- approve


def test_an_approval_records_who_what_and_when_and_returns_the_whole_decision(db, sent):
    post_id = _post(when=NOW + scheduling_window() + timedelta(days=25))  # beyond the window: not due yet
    content = _row(post_id).content_hash
    assert _approve(post_id) == Decision(post_id, True, PostStatus.APPROVED, None)
    row = _row(post_id)
    assert (row.status, row.approved_hash, row.approved_by, _aware(row.approved_at)) == (
        PostStatus.APPROVED, content, "ann", NOW)
    assert _events(post_id, "approved") == [("ann", {"content_hash": content})]
    # Enqueued when it enters the 75-day window, with an hour's margin: not before, not after.
    assert _aware(row.due_at) == NOW + timedelta(days=25) + WINDOW_MARGIN
    assert row.enqueued_at is None and sent == []


def test_a_post_due_exactly_now_is_enqueued_for_publishing_at_once(db, sent):
    post_id = _post(when=NOW + scheduling_window() - WINDOW_MARGIN)  # enters the window now
    _approve(post_id)
    row = _row(post_id)
    assert _aware(row.due_at) == NOW and _aware(row.enqueued_at) == NOW
    assert sent == [(TaskName.PUBLISH_POST, (post_id,))]


def test_a_post_inside_the_window_is_due_now(db, sent):
    post_id = _post(when=NOW + timedelta(days=2))
    _approve(post_id)
    assert _aware(_row(post_id).due_at) == NOW and sent == [(TaskName.PUBLISH_POST, (post_id,))]


def test_a_post_without_a_time_is_due_now(db, sent):
    post_id = _post()
    _set(post_id, scheduled_at=None)  # "publish now": the column may be empty (first_due_at allows it)
    assert _approve(post_id).accepted
    assert _aware(_row(post_id).due_at) == NOW and sent == [(TaskName.PUBLISH_POST, (post_id,))]


@pytest.mark.parametrize(("offset", "due"), [(timedelta(days=3), NOW + timedelta(days=3)),
                                             (timedelta(days=-1), NOW)])
def test_an_opted_in_tenant_publishes_live_at_the_slot_so_the_post_is_due_then(db, sent, offset, due):
    post_id = _post(auto_publish=True, when=NOW + offset)
    _set(post_id, scheduled_at=NOW + offset)  # intake refuses a past time; the row can still have one
    _approve(post_id)
    assert _aware(_row(post_id).due_at) == due


def test_approving_again_the_same_content_is_an_idempotent_yes(db, sent):
    post_id = _post()
    _approve(post_id)
    assert _approve(post_id, approver="bob") == Decision(post_id, True, PostStatus.APPROVED, "already approved")
    assert _row(post_id).approved_by == "ann" and len(_events(post_id, "approved")) == 1


def test_an_old_approval_hash_does_not_make_another_status_approved(db, sent):
    """A rejected post still carries the hash it was once approved with: showing it again is refused."""
    post_id = _post()
    _approve(post_id)
    with transaction() as s:
        assert reject(s, post_id, "bob", "off brand").accepted
    shown = _row(post_id).approved_hash
    decision = _approve(post_id, shown=shown, approver="cy")
    assert decision == Decision(post_id, False, PostStatus.REJECTED, "post is rejected, not pending_approval")
    assert _events(post_id, "decision_refused") == [("cy", {"reason": "post is rejected, not pending_approval"})]


def test_an_approved_post_shown_with_other_content_is_refused(db, sent):
    post_id = _post()
    _approve(post_id)
    decision = _approve(post_id, shown="0" * 64)
    assert decision == Decision(post_id, False, PostStatus.APPROVED, "post is approved, not pending_approval")


def test_content_edited_behind_the_stored_hash_cannot_be_approved(db, sent):
    """The shown hash equals the stored content_hash, but the row's content changed since: refused."""
    post_id = _post()
    _set(post_id, message="edited behind the hash's back")
    decision = _approve(post_id, approver="dee")
    assert decision == Decision(post_id, False, PostStatus.PENDING_APPROVAL,
                                "content changed since it was shown; review it again")
    assert _events(post_id, "decision_refused") == [
        ("dee", {"reason": "content changed since it was shown; review it again"})]
    assert sent == []


@pytest.mark.parametrize("field", ["link", "media"])
def test_the_approved_hash_covers_the_link_and_the_media(db, field):
    post_id = _post()
    before = _hash(post_id)
    _set(post_id, **({"link": "https://example.com/a"} if field == "link" else
                     {"media": [{"type": "image", "url": "https://example.com/a.jpg"}]}))
    assert _hash(post_id) != before


def test_the_hash_of_an_edit_is_of_the_edited_message(db):
    post_id = _post()
    assert _hash(post_id, message="Hello") == _hash(post_id)
    assert _hash(post_id, message="Bye") != _hash(post_id)


# ----------------------------------------------------------------------------- an edit of a post already on the Page


def _on_page_with_edit(status: str = PostStatus.SCHEDULED, pending: str | None = "Edited") -> str:
    post_id = _post()
    _approve(post_id)
    _set(post_id, status=status, external_id="p1_1", pending_message=pending)
    return post_id


@pytest.mark.parametrize("status", sorted({PostStatus.SCHEDULED, PostStatus.PUBLISHED, PostStatus.PLATFORM_DRAFT}))
def test_an_edit_of_a_post_on_the_page_is_approved_and_sent_as_an_update(db, sent, status):
    post_id = _on_page_with_edit(status)
    sent.clear()
    shown = _hash(post_id, message="Edited")
    before = datetime.now(timezone.utc)
    with transaction() as s:
        decision = approve(s, post_id, "eve", shown, now=NOW)
    assert decision == Decision(post_id, True, status, "edit approved")
    row = _row(post_id)
    assert (row.status, row.approved_hash, row.approved_by) == (status, shown, "eve")
    # Stamped with the clock (not the ``now`` argument: _approve_edit reads utcnow), not left as it was.
    assert before <= _aware(row.approved_at) <= datetime.now(timezone.utc)
    assert _events(post_id, "edit_approved") == [("eve", {"content_hash": shown})]
    assert sent == [(TaskName.UPDATE_MESSAGE, (post_id, "Edited"))]


def test_an_edit_shown_with_stale_text_is_refused(db, sent):
    post_id = _on_page_with_edit()
    sent.clear()
    with transaction() as s:
        decision = approve(s, post_id, "eve", _hash(post_id, message="Something else"), now=NOW)
    reason = "the edited message changed since it was shown; review it again"
    assert decision == Decision(post_id, False, PostStatus.SCHEDULED, reason)
    assert _events(post_id, "decision_refused") == [("eve", {"reason": reason})]
    assert sent == [] and _row(post_id).approved_by == "ann"


def test_a_pending_edit_is_not_an_edit_approval_before_the_post_is_on_the_page(db, sent):
    post_id = _post()
    _set(post_id, pending_message="Edited")
    assert _approve(post_id) == Decision(post_id, True, PostStatus.APPROVED, None)
    assert [name for name, _ in sent] == [TaskName.PUBLISH_POST]


def test_a_post_on_the_page_without_a_pending_edit_is_not_approved_again(db, sent):
    post_id = _on_page_with_edit(pending=None)
    decision = _approve(post_id)
    assert decision == Decision(post_id, False, PostStatus.SCHEDULED, "post is scheduled, not pending_approval")


# ----------------------------------------------------------------------------- reject


@pytest.mark.parametrize("reason", ["", "   "])
def test_a_rejection_without_a_reason_is_refused_and_audited(db, reason):
    post_id = _post()
    with transaction() as s:
        decision = reject(s, post_id, "bob", reason)
    assert decision == Decision(post_id, False, PostStatus.PENDING_APPROVAL, "a rejection needs a reason")
    assert _events(post_id, "decision_refused") == [("bob", {"reason": "a rejection needs a reason"})]


def test_a_post_on_the_page_can_no_longer_be_rejected(db, sent):
    post_id = _on_page_with_edit(PostStatus.PUBLISHED, pending=None)
    with transaction() as s:
        decision = reject(s, post_id, "bob", "too late")
    reason = "post is published; it can no longer be rejected"
    assert decision == Decision(post_id, False, PostStatus.PUBLISHED, reason)
    assert _events(post_id, "decision_refused") == [("bob", {"reason": reason})]
    assert _row(post_id).status == PostStatus.PUBLISHED


def test_a_rejection_answers_with_the_new_status_and_clears_the_due_time(db, sent):
    post_id = _post()
    _approve(post_id)
    with transaction() as s:
        assert reject(s, post_id, "bob", " off brand ") == Decision(post_id, True, PostStatus.REJECTED, None)
    row = _row(post_id)
    assert (row.status, row.due_at) == (PostStatus.REJECTED, None)
    assert _events(post_id, "rejected") == [("bob", {"reason": "off brand"})]


# ----------------------------------------------------------------------------- lock_post


def test_an_unknown_post_is_a_bad_message_naming_it(db):
    with transaction() as s, pytest.raises(BadMessage, match="no post 7b3c"):
        lock_post(s, "7b3c")


def test_the_post_is_read_for_update_and_its_ids_bound_to_the_log_context(db):
    """FOR UPDATE: two approvals of one post on PostgreSQL wait for each other instead of both deciding
    on the same snapshot (SQLite locks the whole database anyway, so the statement is what is checked)."""
    post_id = _post()
    tenant_id = _row(post_id).tenant_id
    locked: list[bool] = []
    structlog.contextvars.clear_contextvars()
    with transaction() as s:
        event.listen(s, "do_orm_execute", lambda state: locked.append(state.statement._for_update_arg is not None))
        lock_post(s, post_id)
        bound = structlog.contextvars.get_contextvars()
    structlog.contextvars.clear_contextvars()
    assert locked == [True]
    assert (bound.get("tenant_id"), bound.get("post_id")) == (tenant_id, post_id)
