"""Failed work is visible and replayable; replays and duplicate beats never publish twice."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from models import FailedJob, PostStatus
from models.db import transaction
from tasks.domain.dispatch import dispatch_due
from tasks.domain.requeue import requeue
from tests.support.factories import connect, make_tenant
from tests.support.pipeline import (
    approve_post,
    assert_exactly_once,
    post_row,
    write_post,
)
from tests.support.waits import wait_for
from worker.core.settings import get_settings

pytestmark = pytest.mark.integration


def test_failed_publish_is_recorded_and_requeued_twice_publishes_once(db, sandbox, workers):
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
    with transaction() as s:
        job = s.query(FailedJob).filter_by(post_id=post_id).one()
        assert job.task_name == "publishing.publish_post"
        assert job.error_class == "InvalidRequest" and job.error_code == "100"
        assert "Invalid parameter" in job.error_message and job.hint
        assert page.token not in str(job.args) + str(job.kwargs) + job.error_message
        job_id = job.id

    with transaction() as s:
        first = requeue(s, job_id)
    with transaction() as s:
        second = requeue(s, job_id)  # an operator double-clicks
    assert first.sent
    wait_for(lambda: post_row(post_id).status == PostStatus.SCHEDULED, 30, what="scheduled after requeue")
    assert_exactly_once(sandbox, page.page_id, ["fails once for good"])
    assert second.note in ("sent", "post is approved; nothing to replay", "post is publishing; nothing to replay",
                           "post is scheduled; nothing to replay")


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
    import time
    time.sleep(1.1)
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
