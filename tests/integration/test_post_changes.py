"""Changes after approval keep the Page and the database in step: reschedule, cancel, edit the text."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from models import PostStatus
from tests.support.factories import connect, make_tenant
from tests.support.pipeline import (
    approve_post,
    events,
    live_posts,
    post_row,
    write_post,
)
from tests.support.waits import wait_for
from worker.app import app

pytestmark = pytest.mark.integration


@pytest.fixture
def scheduled_post(db, sandbox, workers):
    workers.start()
    page = sandbox.add_page(name="Changes")
    tenant_id = make_tenant()
    connect(tenant_id, page.page_id, page.token)
    post_id = write_post(tenant_id, "original text")
    approve_post(post_id)
    wait_for(lambda: post_row(post_id).status == PostStatus.SCHEDULED, 30, what="scheduled")
    return page, post_id


def _on_page(sandbox, page, post_id):
    external_id = post_row(post_id).external_id
    return [p for p in sandbox.objects(page.page_id)["posts"] if p["id"] == external_id][0]


def test_reschedule_moves_the_post_on_the_page(sandbox, scheduled_post):
    page, post_id = scheduled_post
    new_time = (datetime.now(timezone.utc) + timedelta(days=5)).replace(microsecond=0)
    app.send_task("publishing.reschedule_post", args=[post_id, new_time.isoformat()])
    wait_for(lambda: post_row(post_id).scheduled_at == new_time, 20, what="rescheduled in db")
    assert _on_page(sandbox, page, post_id)["scheduled_publish_time"] == int(new_time.timestamp())
    assert "rescheduled" in events(post_id)


def test_cancel_deletes_it_on_the_page(sandbox, scheduled_post):
    page, post_id = scheduled_post
    app.send_task("publishing.cancel_post", args=[post_id])
    wait_for(lambda: post_row(post_id).status == PostStatus.CANCELLED, 20, what="cancelled")
    assert _on_page(sandbox, page, post_id)["deleted"] is True
    assert live_posts(sandbox, page.page_id) == []
    app.send_task("publishing.cancel_post", args=[post_id])  # a second cancel is harmless
    wait_for(lambda: events(post_id).count("cancelled") == 1, 5, what="one cancel event")


def test_message_edit_needs_a_fresh_approval_then_reaches_the_page(sandbox, scheduled_post):
    page, post_id = scheduled_post
    app.send_task("publishing.update_message", args=[post_id, "edited text"])
    wait_for(lambda: post_row(post_id).pending_message == "edited text", 20, what="edit proposed")
    assert _on_page(sandbox, page, post_id)["message"] == "original text"  # nothing sent before approval
    from models.db import transaction
    from tasks.domain.approval import approve, current_hash

    with transaction() as s:
        post = s.get(__import__("models").SocialPost, post_id)
        decision = approve(s, post_id, "ann", current_hash(post, message="edited text"))
    assert decision.accepted, decision.reason
    wait_for(lambda: post_row(post_id).message == "edited text", 20, what="edit applied")
    assert _on_page(sandbox, page, post_id)["message"] == "edited text"
    row = post_row(post_id)
    assert row.pending_message is None and row.status == PostStatus.SCHEDULED
    assert {"edit_proposed", "edit_approved", "message_updated"} <= set(events(post_id))
