"""Recovery in minutes: every worker SIGKILLed mid-publish, then one worker started, and no beat.

Before the kill, three posts are inside a create call that the sandbox has applied but not answered
(the post is on the Page, our database only has the in-flight mark), and a throttled Page's posts
wait for countdown wake-ups that the workers hold in memory. Killed, the broker keeps all of that
unacked for its two-hour visibility timeout, and nothing runs ``dispatch_due`` here: only the
recovery a worker runs once it is ready can bring those posts back. Every approved post must end on
the Page exactly once. How long it takes at production settings is measured by
``python -m bench.recovery``, not asserted here.
"""

from __future__ import annotations

import json

import pytest

from models import PostStatus, SocialPost, utcnow
from models.db import transaction
from tasks.domain.recovery import GUARD_KEY
from tests.support.factories import connect, make_tenant
from tests.support.pipeline import approve_post, assert_exactly_once, events, future, write_post
from tests.support.waits import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.faults]

ENV = {
    "SOCIALCAL_GRAPH_TIMEOUT_SECONDS": "10",
    "SOCIALCAL_PUBLISH_LEASE_SECONDS": "20",  # two Graph timeouts
    # A throttled Page pauses for at most one budget window: under the broker countdown limit, so
    # its posts wait for countdown wake-ups (held in the workers' memory), and long enough that they
    # are still waiting when the workers die.
    "SOCIALCAL_GRAPH_BUDGET_WINDOW_SECONDS": "60",
}


def _rows(post_ids: list[str]) -> list[SocialPost]:
    with transaction() as session:
        rows = list(session.query(SocialPost).filter(SocialPost.id.in_(post_ids)))
        for row in rows:
            session.expunge(row)
        return rows


def _recovery_lines(log: str) -> list[dict]:
    return [json.loads(line) for line in log.splitlines()
            if '"recovered_after_start"' in line and line.startswith("{")]


@pytest.mark.parametrize("backend_db", ["postgresql"], indirect=True)
def test_all_workers_killed_mid_publish_one_restarted_lands_every_post_once(db, sandbox, workers, redis_client):
    hung_page, throttled_page = sandbox.add_page(name="Hung"), sandbox.add_page(name="Throttled")
    hung_tenant, throttled_tenant = make_tenant("hung"), make_tenant("throttled")
    connect(hung_tenant, hung_page.page_id, hung_page.token)
    connect(throttled_tenant, throttled_page.page_id, throttled_page.token)
    doomed = [workers.start(name=f"doomed{n}", **ENV) for n in range(3)]

    # 1. The throttled Page: its first call is refused with code 32, the Page's scope pauses, and every
    #    post of it goes back to approved with a countdown wake-up that an idle worker holds.
    sandbox.set_faults([{"method": "POST", "path": "feed", "page_id": throttled_page.page_id, "mode": "error",
                         "code": 32, "rate": 1.0, "count": 1}])
    throttled = [write_post(throttled_tenant, f"throttled {i}", when=future(days=3)) for i in range(4)]
    for post_id in throttled:
        approve_post(post_id)
    def waiting(row: SocialPost) -> bool:  # released with a countdown wake-up (throttles refund the attempt)
        return (row.status == PostStatus.APPROVED and row.enqueued_at is not None and row.due_at is not None
                and row.due_at > utcnow())

    # (A post another worker sent before the pause was recorded may be on the Page already.)
    wait_for(lambda: all(waiting(r) or r.status == PostStatus.SCHEDULED for r in _rows(throttled))
             and sum(map(waiting, _rows(throttled))) >= 2, 40, what="throttled posts waiting for wake-ups")
    waiting_ids = [r.id for r in _rows(throttled) if waiting(r)]

    # 2. The hung Page: each worker's create call is applied, then its answer is held past our timeout.
    sandbox.set_faults([{"method": "POST", "path": "feed", "page_id": hung_page.page_id, "mode": "timeout",
                         "seconds": 60, "rate": 1.0, "count": 3}])
    hung = [write_post(hung_tenant, f"hung {i}", when=future(days=3)) for i in range(6)]
    for post_id in hung:
        approve_post(post_id)
    wait_for(lambda: sum(1 for r in _rows(hung) if (r.publish_intent or {}).get("in_flight")) == 3
             and len(sandbox.objects(hung_page.page_id)["posts"]) == 3, 30, what="three create calls in flight")

    for proc in doomed:
        proc.kill()
    rows = {r.id: r for r in _rows(hung + throttled)}
    assert sum(1 for r in rows.values() if r.status == PostStatus.PUBLISHING) == 3
    assert all(rows[p].status == PostStatus.APPROVED for p in waiting_ids)

    sandbox.set_faults([])
    # A restart a few seconds after the crash, as a supervisor does it: past the moments in which
    # workers starting together share one re-send of the approved posts.
    wait_for(lambda: not redis_client.exists(GUARD_KEY), 15, what="the doomed workers' start window over")
    survivor = workers.start(name="survivor", **ENV)
    wait_for(lambda: all(r.status == PostStatus.SCHEDULED for r in _rows(hung + throttled)), 180,
             what="every approved post scheduled after the restart, with no beat running")

    assert_exactly_once(sandbox, hung_page.page_id, [f"hung {i}" for i in range(6)])
    assert_exactly_once(sandbox, throttled_page.page_id, [f"throttled {i}" for i in range(4)])
    adopted = [p for p in hung if "reconciled" in events(p)]
    assert len(adopted) == 3, "the three posts created under the dead workers are adopted, not sent again"
    (recovery,) = _recovery_lines(survivor.read_log())
    # The three dead workers' leases, and possibly one more: the survivor's own consumer may claim a
    # woken throttled post before its start-up recovery looks (that lease is live, and harmless to wake).
    assert recovery["leases"] in (3, 4) and recovery["approved"] >= len(waiting_ids)
