"""Failed work is visible and replayable; replays and duplicate beats never publish twice."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from models import FailedJob, PostStatus
from models.db import transaction
from tasks.domain.dispatch import dispatch_due
from tasks.domain.requeue import requeue
from tests.support.factories import connect, make_tenant
from tests.support.pipeline import (
    approve_post,
    assert_exactly_once,
    aware,
    post_row,
    write_post,
)
from tests.support.waits import wait_for
from worker.core.settings import get_settings

pytestmark = pytest.mark.integration


def test_failed_publish_is_recorded_and_requeued_twice_publishes_once(db, sandbox, workers, redis_client):
    page = sandbox.add_page(name="Cafe")
    tenant_id = make_tenant()
    connect(tenant_id, page.page_id, page.token)
    sandbox.set_faults([{"method": "POST", "path": "feed", "mode": "error", "code": 100, "rate": 1.0, "count": 1,
                         "message": "(#100) Invalid parameter"}])
    worker = workers.start()
    post_id = write_post(tenant_id, "fails once for good")
    approve_post(post_id)
    wait_for(lambda: post_row(post_id).status == PostStatus.FAILED, 30, what="failed")
    with transaction() as s:  # written in the same transaction as the post's failure: there already
        assert s.query(FailedJob).filter_by(post_id=post_id).count() == 1
    wait_for(lambda: '"task_failed"' in worker.read_log(), 30, what="the task's on_failure")
    with transaction() as s:  # ...and on_failure did not write a second one
        assert s.query(FailedJob).filter_by(post_id=post_id).count() == 1

    def failed_job() -> FailedJob | None:
        with transaction() as s:
            found = s.query(FailedJob).filter_by(post_id=post_id).one_or_none()
            if found is not None:
                s.expunge(found)
            return found

    job = wait_for(failed_job, 10, what="the failed_jobs row")
    assert job.task_name == "publishing.publish_post"
    assert job.error_class == "InvalidRequest" and job.error_code == "100"
    assert "Invalid parameter" in job.error_message and job.hint
    assert page.token not in str(job.args) + str(job.kwargs) + job.error_message

    # The operator double-clicks while no worker is running, so the second replay meets the post exactly
    # as the first left it: approved, its one replay message on the queue.
    worker.stop()
    with transaction() as s:
        first = requeue(s, job.id)
    with transaction() as s:
        second = requeue(s, job.id)
    assert (first.sent, first.note) == (True, "sent")
    assert (second.sent, second.note) == (False, "post is approved; nothing to replay")
    assert redis_client.llen("publish") == 1, "the second replay sent a message"
    workers.start()
    wait_for(lambda: post_row(post_id).status == PostStatus.SCHEDULED, 30, what="scheduled after requeue")
    assert_exactly_once(sandbox, page.page_id, ["fails once for good"])
    # A replay after the post landed is refused the same way.
    with transaction() as s:
        late = requeue(s, job.id)
    assert (late.sent, late.note) == (False, "post is scheduled; nothing to replay")
    assert sandbox.stats()["calls_by_route"]["POST feed"] == 2  # the failed call and the replay


def test_two_beats_at_once_and_a_flushed_redis_still_publish_once(db, sandbox, workers, redis_client, monkeypatch):
    page = sandbox.add_page(name="Cafe")
    tenant_id = make_tenant()
    connect(tenant_id, page.page_id, page.token)
    messages = [f"post {i}" for i in range(6)]
    post_ids = [write_post(tenant_id, m) for m in messages]
    for post_id in post_ids:
        approve_post(post_id)
    redis_client.flushdb()  # every wake-up approval sent is lost
    monkeypatch.setenv("SOCIALCAL_REDISPATCH_AFTER_SECONDS", "1")
    get_settings.cache_clear()
    # A beat finds the lost wake-ups once they are older than the redispatch age.
    wait_for(lambda: all(aware(post_row(post_id).enqueued_at) < datetime.now(timezone.utc) - timedelta(seconds=1)
                         for post_id in post_ids), 10, interval=0.1, what="the wake-ups to count as lost")
    now = datetime.now(timezone.utc)
    with transaction() as s1:
        first = dispatch_due(s1, now, get_settings())
    with transaction() as s2:
        second = dispatch_due(s2, now, get_settings())  # a second beat in the same minute
    assert first["approved"] == 6 and second["approved"] == 0
    with transaction() as s3:
        third = dispatch_due(s3, now, get_settings())
    assert third["approved"] == 0
    # Even if a beat double-sends, the claim allows one publish: send everything again on purpose.
    from worker.app import app
    for post_id in post_ids:
        app.send_task("publishing.publish_post", args=[post_id])
    workers.start()
    workers.start()
    for post_id in post_ids:
        wait_for(lambda: post_row(post_id).status == PostStatus.SCHEDULED, 30, what="scheduled")
    assert_exactly_once(sandbox, page.page_id, messages)
