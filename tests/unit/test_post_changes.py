"""Reschedule, cancel and edit after approval, as plain functions: the status rules, which Graph call
each makes (a recording fake Page client), and what they write to the audit trail."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from graph.errors import AuthError
from models import PostEvent, PostStatus, SocialPost
from models.db import transaction
from tasks.domain import post_changes
from tasks.domain.errors import BadMessage, TryLater
from tasks.domain.intake import intake
from tests.support.factories import connect, make_tenant


class FakePage:
    """Stands in for the Graph client of the post's Page; records every call."""

    def __init__(self, fail_with: Exception | None = None) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.fail_with = fail_with

    def __call__(self, integration: Any) -> "FakePage":
        self.calls.append(("client_for", integration.page_id))
        return self

    def _record(self, *call: Any) -> bool:
        if self.fail_with is not None:
            raise self.fail_with
        self.calls.append(call)
        return True

    def reschedule_post(self, post_id: str, when: datetime) -> bool:
        return self._record("reschedule", post_id, when)

    def delete_post(self, post_id: str) -> bool:
        return self._record("delete", post_id)

    def update_message(self, post_id: str, message: str) -> bool:
        return self._record("update_message", post_id, message)

    def update_video(self, video_id: str, **changes: Any) -> bool:
        return self._record("update_video", video_id, changes)


def _post(status: str, *, external_id: str | None = None, content_type: str | None = None,
          graph_ids: dict[str, Any] | None = None) -> str:
    tenant_id = make_tenant()
    connect(tenant_id, "page-1", "EAAtokenvalue000000000000000000001")
    with transaction() as s:
        post_id = intake(s, {"tenant_id": tenant_id, "message": "Hello", "scheduled_at": "2030-01-02T10:00:00Z"}).post_id
    with transaction() as s:
        post = s.get(SocialPost, post_id)
        post.status = status
        post.external_id = external_id
        if content_type:
            post.content_type = content_type
        if graph_ids:
            post.graph_ids = graph_ids
        if status != PostStatus.PENDING_APPROVAL:
            post.approved_by, post.approved_hash = "ann", post.content_hash
    return post_id


def _row(post_id: str) -> SocialPost:
    with transaction() as s:
        post = s.get(SocialPost, post_id)
        s.expunge(post)
        return post


def _events(post_id: str) -> list[str]:
    with transaction() as s:
        return [e.kind for e in s.query(PostEvent).filter_by(post_id=post_id).order_by(PostEvent.id)]


WHEN = datetime(2030, 2, 1, 9, 0, tzinfo=timezone.utc)


def test_reschedule_a_scheduled_post_moves_it_on_the_page(db):
    post_id, page = _post(PostStatus.SCHEDULED, external_id="page-1_77"), FakePage()
    with transaction() as s:
        change = post_changes.reschedule_post(s, post_id, WHEN, client_factory=page)
    assert change.as_dict() == {"post_id": post_id, "status": "scheduled", "scheduled_at": WHEN.isoformat()}
    assert page.calls == [("client_for", "page-1"), ("reschedule", "page-1_77", WHEN)]
    assert _row(post_id).scheduled_at.replace(tzinfo=timezone.utc) == WHEN
    assert _events(post_id)[-1] == "rescheduled"


def test_reschedule_an_approved_post_only_moves_its_due_time(db):
    post_id, page = _post(PostStatus.APPROVED), FakePage()
    now = datetime(2029, 12, 1, tzinfo=timezone.utc)
    with transaction() as s:
        post_changes.reschedule_post(s, post_id, WHEN, client_factory=page, now=now)
    row = _row(post_id)
    assert page.calls == []  # nothing is on the Page yet
    # Not live: dispatched when the post enters the scheduling window (29 days before, plus a margin).
    assert row.due_at.replace(tzinfo=timezone.utc) == max(now, WHEN - timedelta(days=29) + timedelta(hours=1))
    assert row.enqueued_at is None


@pytest.mark.parametrize("status", [PostStatus.PUBLISHED, PostStatus.PLATFORM_DRAFT, PostStatus.CANCELLED,
                                    PostStatus.FAILED, PostStatus.REJECTED])
def test_reschedule_refuses_other_statuses_without_a_graph_call(db, status):
    post_id, page = _post(status, external_id="page-1_77"), FakePage()
    with pytest.raises(BadMessage, match=f"post is {status}"), transaction() as s:
        post_changes.reschedule_post(s, post_id, WHEN, client_factory=page)
    assert page.calls == [] and "rescheduled" not in _events(post_id)


@pytest.mark.parametrize("change", ["reschedule", "cancel"])
def test_a_post_being_published_waits_for_the_publish(db, change):
    post_id, page = _post(PostStatus.PUBLISHING), FakePage()
    with pytest.raises(TryLater), transaction() as s:
        if change == "reschedule":
            post_changes.reschedule_post(s, post_id, WHEN, client_factory=page)
        else:
            post_changes.cancel_post(s, post_id, client_factory=page)
    assert page.calls == [] and _row(post_id).status == PostStatus.PUBLISHING


@pytest.mark.parametrize("status", [PostStatus.SCHEDULED, PostStatus.PUBLISHED, PostStatus.PLATFORM_DRAFT])
def test_cancel_deletes_a_post_on_the_page(db, status):
    post_id, page = _post(status, external_id="page-1_77"), FakePage()
    with transaction() as s:
        change = post_changes.cancel_post(s, post_id, client_factory=page)
    assert change.as_dict() == {"post_id": post_id, "status": "cancelled", "deleted_on_page": True}
    assert page.calls == [("client_for", "page-1"), ("delete", "page-1_77")]
    assert _row(post_id).status == PostStatus.CANCELLED and _events(post_id)[-1] == "cancelled"


def test_cancel_off_the_page_sends_nothing_and_twice_is_a_no_op(db):
    post_id, page = _post(PostStatus.APPROVED), FakePage()
    with transaction() as s:
        post_changes.cancel_post(s, post_id, client_factory=page)
    with transaction() as s:
        again = post_changes.cancel_post(s, post_id, client_factory=page)
    assert page.calls == [] and again.as_dict() == {"post_id": post_id, "status": "cancelled"}
    assert _events(post_id).count("cancelled") == 1
    assert _row(post_id).due_at is None


def test_edit_is_proposed_first_and_applied_only_once_that_text_is_approved(db):
    post_id, page = _post(PostStatus.SCHEDULED, external_id="page-1_77"), FakePage()
    with transaction() as s:
        proposed = post_changes.update_message(s, post_id, "Hello, edited", client_factory=page)
    assert proposed.status == "awaiting_approval" and page.calls == []
    assert _row(post_id).pending_message == "Hello, edited" and _row(post_id).message == "Hello"
    with transaction() as s:  # the person approves exactly the proposed text
        post = s.get(SocialPost, post_id)
        post.approved_hash = proposed.detail["content_hash"]
    with transaction() as s:
        applied = post_changes.update_message(s, post_id, "Hello, edited", client_factory=page)
    assert applied.as_dict() == {"post_id": post_id, "status": "scheduled", "content_hash": proposed.detail["content_hash"]}
    assert page.calls == [("client_for", "page-1"), ("update_message", "page-1_77", "Hello, edited")]
    row = _row(post_id)
    assert (row.message, row.pending_message, row.content_hash) == ("Hello, edited", None, applied.detail["content_hash"])
    assert _events(post_id)[-2:] == ["edit_proposed", "message_updated"]


def test_edit_of_a_post_not_on_the_page_goes_through_intake(db):
    post_id, page = _post(PostStatus.APPROVED), FakePage()
    with pytest.raises(BadMessage, match="intake and approval"), transaction() as s:
        post_changes.update_message(s, post_id, "sneaky", client_factory=page)
    assert page.calls == [] and _row(post_id).pending_message is None


def test_a_graph_failure_names_the_page_and_changes_nothing(db):
    post_id = _post(PostStatus.SCHEDULED, external_id="page-1_77")
    page = FakePage(fail_with=AuthError("token expired", code=190))
    with pytest.raises(post_changes.PageCallFailed) as failed, transaction() as s:
        post_changes.cancel_post(s, post_id, client_factory=page)
    assert isinstance(failed.value.error, AuthError)
    assert failed.value.integration_id == _row(post_id).integration_id
    assert _row(post_id).status == PostStatus.SCHEDULED and "cancelled" not in _events(post_id)


@pytest.mark.parametrize("content_type", ["video", "reel"])
def test_video_and_reel_changes_go_to_the_video_node_with_video_parameters(db, content_type):
    """A Video takes description and scheduled_publish_time (SDK AdVideo.api_update), never message;
    deleting the video deletes its post."""
    ids = {"video_id": "9001", "post_id": "page-1_555"}
    post_id = _post(PostStatus.SCHEDULED, external_id="page-1_555", content_type=content_type, graph_ids=ids)
    page = FakePage()
    with transaction() as s:
        post_changes.reschedule_post(s, post_id, WHEN, client_factory=page)
    with transaction() as s:
        post_changes.update_message(s, post_id, "New caption", client_factory=page)  # proposes the edit
    with transaction() as s:
        post = s.get(SocialPost, post_id)
        post.approved_hash = post_changes.current_hash(post, message="New caption")
    with transaction() as s:
        post_changes.update_message(s, post_id, "New caption", client_factory=page)
    with transaction() as s:
        post_changes.cancel_post(s, post_id, client_factory=page)
    calls = [c for c in page.calls if c[0] != "client_for"]
    assert calls == [("update_video", "9001", {"scheduled_at": WHEN}),
                     ("update_video", "9001", {"description": "New caption"}),
                     ("delete", "9001")]


def test_a_photo_id_is_never_sent_a_page_post_change(db):
    """An old row whose external_id is a bare photo id: the Photo node cannot be updated (SDK photo.py
    has no api_update), so the change is refused before any Graph call."""
    post_id, page = _post(PostStatus.SCHEDULED, external_id="4444", content_type="photo"), FakePage()
    with pytest.raises(BadMessage, match="no Page post id"):
        with transaction() as s:
            post_changes.reschedule_post(s, post_id, WHEN, client_factory=page)
    assert [c for c in page.calls if c[0] != "client_for"] == []
