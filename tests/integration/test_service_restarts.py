"""The services going away while posts drain: PostgreSQL restarted, Redis restarted (not flushed).

Each test runs its own server (``tests.support.own_services``) on a free port and points only its own
workers at it; the shared Redis and PostgreSQL are never touched. While a backlog of approved posts
drains through real workers, the server is stopped and started again. Workers must reconnect by
themselves (PostgreSQL: the pool's invalidation on a disconnect, its ping of idle connections, the
publisher's one retry of a transaction the restart cut before its commit and the task retry on a lost
database; Redis: Celery's broker reconnection, redis-py's reconnect for the call budget), and at the
end every approved post is on the sandbox Page exactly once, with one ``scheduled`` event each: no transaction cut by the restart
left half of itself behind.
"""

from __future__ import annotations

import time
from typing import Callable

import pytest

from models import FailedJob, OutboxMessage, PostEvent, PostStatus, SocialPost
from models.db import transaction
from tests.conftest import TEST_CONCURRENCY, WorkerFactory
from tests.support.beat import FastBeat
from tests.support.factories import connect, make_tenant
from tests.support.pipeline import approve_post, assert_exactly_once, future, write_post
from tests.support.waits import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.faults]

WORKER_ENV = {
    "SOCIALCAL_PUBLISH_LEASE_SECONDS": "8",
    "SOCIALCAL_GRAPH_TIMEOUT_SECONDS": "3",
    "SOCIALCAL_REDISPATCH_AFTER_SECONDS": "5",
}
# Enough for the backlog to still be draining when a third is done, whatever the workers' pool
# (SOCIALCAL_TEST_POOL=threads runs TEST_CONCURRENCY publishes at once per worker).
POSTS = 24 * TEST_CONCURRENCY


def _statuses(post_ids: list[str]) -> dict[str, str]:
    with transaction() as session:
        return dict(session.query(SocialPost.id, SocialPost.status).filter(SocialPost.id.in_(post_ids)).all())


def _write_backlog(sandbox, count: int) -> tuple[list[tuple[str, object]], list[str], dict[str, list[str]]]:
    pages = []
    for number in range(2):
        record = sandbox.add_page(name=f"Restart Page {number}")
        tenant_id = make_tenant(f"restart tenant {number}")
        connect(tenant_id, record.page_id, record.token)
        pages.append((tenant_id, record))
    expected: dict[str, list[str]] = {record.page_id: [] for _, record in pages}
    post_ids = []
    for i in range(count):
        tenant_id, record = pages[i % 2]
        media = {"media": [{"url": f"https://cdn.example/r{i}.jpg", "type": "image"}]} if i % 4 == 3 else {}
        post_ids.append(write_post(tenant_id, f"restart post {i}", when=future(days=3 + i / 1000), **media))
        expected[record.page_id].append(f"restart post {i}")
    return pages, post_ids, expected


def _drain(post_ids: list[str], restart: Callable[[], None], timeout: float = 150) -> bool:
    """Wait for every post to be final, restarting the service once a third of them are."""
    restarted = False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            statuses = _statuses(post_ids)
        except Exception:  # noqa: BLE001 - our own database may be the one that is down
            time.sleep(0.5)
            continue
        done = sum(1 for s in statuses.values() if s not in (PostStatus.APPROVED, PostStatus.PUBLISHING))
        if done == len(post_ids):
            return restarted
        if not restarted and done >= len(post_ids) // 3:
            restart()
            restarted = True
        time.sleep(0.3)
    raise AssertionError(f"posts not final after {timeout}s: {sorted(set(_statuses(post_ids).values()))}")


def _assert_each_once(sandbox, pages, post_ids, expected) -> None:
    statuses = _statuses(post_ids)
    assert set(statuses.values()) == {PostStatus.SCHEDULED}, sorted(set(statuses.values()))
    for _, record in pages:
        assert_exactly_once(sandbox, record.page_id, expected[record.page_id])
    with transaction() as session:
        scheduled_events = session.query(PostEvent.post_id).filter(PostEvent.kind == "scheduled",
                                                                   PostEvent.post_id.in_(post_ids)).all()
        external = [row.external_id for row in session.query(SocialPost).filter(SocialPost.id.in_(post_ids))]
    assert sorted(e.post_id for e in scheduled_events) == sorted(post_ids), "one scheduled event per post"
    assert all(external) and len(set(external)) == len(post_ids)


# ---------------------------------------------------------------------------------- PostgreSQL


def test_postgres_restarted_while_posts_drain(own_postgres, own_pg_db, sandbox, redis_client, tmp_path):
    redis_client.flushdb()
    pages, post_ids, expected = _write_backlog(sandbox, POSTS)
    sandbox.set_faults(latency_ms=150)  # a backlog still draining when the database goes away
    factory = WorkerFactory(own_pg_db, sandbox, tmp_path / "logs")
    for n in range(2):
        factory.start(name=f"pg{n}", **WORKER_ENV)
    beat = FastBeat()
    beat.start()
    try:
        for post_id in post_ids:
            approve_post(post_id)
        # "fast": every open session is cut off, mid-transaction or not, like a crash of the server.
        restarted = _drain(post_ids, lambda: own_postgres.restart(down_for=3.0))
    finally:
        beat.close()
        factory.stop_all()
        redis_client.flushdb()
    assert restarted
    _assert_each_once(sandbox, pages, post_ids, expected)
    with transaction() as session:  # a lost database is a retry, not a failure for an operator to replay
        assert session.query(FailedJob).count() == 0
    logs = factory.logs()
    assert "database_unavailable_retry" in logs, "the restart did hit the workers"
    for _, record in pages:
        assert record.token not in logs


# ---------------------------------------------------------------------------------- Redis


@pytest.mark.parametrize("backend_db", ["postgresql"], indirect=True)
def test_redis_restarted_while_posts_drain(db, own_redis, own_broker_app, sandbox, tmp_path):
    pages, post_ids, expected = _write_backlog(sandbox, POSTS)
    early, late = post_ids[: POSTS // 2], post_ids[POSTS // 2:]
    sandbox.set_faults(latency_ms=150)
    factory = WorkerFactory(db, sandbox, tmp_path / "logs")
    for n in range(2):
        factory.start(name=f"redis{n}", SOCIALCAL_BROKER_URL=own_redis.url(), **WORKER_ENV)
    beat = FastBeat()
    beat.start()
    kept: list[int] = []

    def restart() -> None:
        own_redis.stop(kill=True)  # every queued and unacked message, and the call budget, are gone
        for post_id in late:
            approve_post(post_id)  # committed; its wake-up cannot be sent
        with transaction() as session:
            kept.append(session.query(OutboxMessage).count())
        own_redis.start()

    try:
        for post_id in early:
            approve_post(post_id)
        restarted = _drain(post_ids, restart)
    finally:
        beat.close()
        factory.stop_all()
    assert restarted
    assert kept and kept[0] >= len(late), "approvals made while Redis was down kept their wake-ups"
    _assert_each_once(sandbox, pages, post_ids, expected)
    wait_for(lambda: _outbox_empty(), 10, what="outbox drained")
    logs = factory.logs()
    for _, record in pages:
        assert record.token not in logs


def _outbox_empty() -> bool:
    with transaction() as session:
        return session.query(OutboxMessage).count() == 0
