"""Unknown outcomes at every step of every content type and mode, through a real worker.

The sandbox applies the write and then loses the answer (``apply_then_fail``: a 500 after the
post exists; ``drop``: the connection closes; ``timeout``: the answer comes after the client gave
up), once, at one step of one post. Each step has a Page of its own (fault rules match by Page), so
one worker publishes the whole matrix of a mode at once.

What must hold, against a sandbox as strict as Meta (no ``promotable_posts``, Video nodes that
refuse Page-post parameters, video posts with ids of their own, Reel finish answering
``{"success": true}`` only, drafts listed nowhere):

* scheduled and live posts end on their Page exactly once, with no person needed: reconciled from
  ``/scheduled_posts`` or ``/published_posts`` (or the Reel's Video node), never sent twice;
* drafts end as a DRAFT on the Page exactly once, or, where the create itself was lost, failed as
  "outcome unknown" with the hint (the draft is on the Page once; nothing was sent again);
* video and Reel posts are stored by their own Page post id and permalink, the video id kept apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import pytest

from models import FailedJob, PostStatus
from models.crypto import get_cipher
from models.db import transaction
from tasks.domain.clients import client_for_token
from tasks.domain.post_metrics import sync_post_metrics
from tests.support.factories import connect, make_tenant
from tests.support.pipeline import approve_post, events, live_posts, post_row, write_post
from tests.support.waits import wait_for
from worker.core.settings import get_settings

pytestmark = pytest.mark.integration

TERMINAL = (PostStatus.SCHEDULED, PostStatus.PUBLISHED, PostStatus.PLATFORM_DRAFT, PostStatus.FAILED)
IMAGE = {"url": "https://cdn.example/p.jpg", "type": "image"}
VIDEO = {"url": "https://cdn.example/v.mp4", "type": "video"}


@dataclass(frozen=True)
class Step:
    """One call of one content type's publish, faulted: ``route`` is the sandbox's route kind."""

    content: str
    method: str
    route: str
    after: int = 0  # matching calls let through first (a Reel's finish is its second video_reels POST)
    creates: bool = True  # the call that makes the post (a lost draft create cannot be looked up)

    @property
    def name(self) -> str:
        return f"{self.content}:{self.method} {self.route}{'+' + str(self.after) if self.after else ''}"


def steps(mode: str) -> list[Step]:
    photo_create = [Step("photo", "POST", "photos", creates=False), Step("photo", "POST", "feed")] \
        if mode == "draft" else [Step("photo", "POST", "photos")]  # a draft photo is a DRAFT /feed post
    return [
        Step("text", "POST", "feed"),
        *photo_create,
        Step("album", "POST", "photos", creates=False),  # an unpublished part: not on the Page
        Step("album", "POST", "feed"),
        Step("video", "POST", "videos"),
        Step("video", "GET", "video", creates=False),  # reading the video's own post_id
        Step("reel", "POST", "video_reels", creates=False),  # start: reserves an id only
        Step("reel", "POST", "rupload", creates=False),
        Step("reel", "POST", "video_reels", after=1),  # finish (repeatable on the same video id)
    ]


def _payload(content: str) -> dict:
    return {"text": {}, "photo": {"media": [IMAGE]},
            "album": {"media": [dict(IMAGE, url=f"https://cdn.example/{i}.jpg") for i in range(3)]},
            "video": {"media": [VIDEO]}, "reel": {"media": [VIDEO], "content_type": "reel"}}[content]


def _when(mode: str) -> str:
    ahead = {"scheduled": timedelta(days=2), "live": timedelta(seconds=-30), "draft": timedelta(minutes=5)}[mode]
    return (datetime.now(timezone.utc) + ahead).replace(microsecond=0).isoformat()


def _expected(mode: str, step: Step) -> str:
    if mode == "draft":
        return PostStatus.FAILED if step.creates and step.content != "reel" else PostStatus.PLATFORM_DRAFT
    return PostStatus.SCHEDULED if mode == "scheduled" else PostStatus.PUBLISHED


@pytest.mark.parametrize("fault", ["apply_then_fail", "drop", "timeout"])
@pytest.mark.parametrize("mode", ["scheduled", "live", "draft"])
def test_every_step_of_every_content_type_survives_a_lost_answer(db, sandbox, workers, mode, fault):
    cases, rules = [], []
    for index, step in enumerate(steps(mode)):
        record = sandbox.add_page(name=f"{mode} {index}")
        tenant_id = make_tenant(f"{mode}-{index}", auto_publish=mode == "live")
        connect(tenant_id, record.page_id, record.token, record.name)
        message = f"{mode} {fault} {step.name}:  spaced   text "
        post_id = write_post(tenant_id, message, when=_when(mode), **_payload(step.content))
        cases.append((step, record.page_id, post_id, message))
        rules.append({"method": step.method, "path": step.route, "page_id": record.page_id, "mode": fault,
                      "count": 1, "after": step.after, "seconds": 4.0})  # the worker gives up after 3 s
    sandbox.set_faults(rules)
    workers.start(pool="prefork", concurrency=2)
    for _, _, post_id, _ in cases:
        approve_post(post_id)
    for step, _, post_id, _ in cases:
        wait_for(lambda: post_row(post_id).status in TERMINAL, 90, what=f"{step.name} to settle")

    stats = sandbox.stats()
    assert stats["faults_fired"].get(fault) == len(cases), sandbox.faults()["rules"]
    listings = {route for route in stats["calls_by_route"] if route.startswith("GET ") and route.endswith("_posts")}
    # Drafts are looked up nowhere (no edge lists them); the others only on edges that exist.
    assert listings <= ({"GET scheduled_posts", "GET published_posts"} if mode != "draft" else set()), listings
    for step, page_id, post_id, message in cases:
        row, expected = post_row(post_id), _expected(mode, step)
        on_page = [p for p in live_posts(sandbox, page_id) if p["message"] == message]
        assert len(on_page) == 1, (step.name, on_page)  # the lost write landed once, and only once
        assert row.status == expected, (step.name, row.status, row.last_error)
        [post] = on_page
        if mode == "draft":
            assert post["status"] == "draft" and post["unpublished_content_type"] == "DRAFT", (step.name, post)
        else:
            assert post["status"] == ("scheduled" if mode == "scheduled" else "published"), (step.name, post)
        if expected == PostStatus.FAILED:
            assert row.external_id is None and "outcome_unknown" in events(post_id), step.name
            with transaction() as session:
                job = session.query(FailedJob).filter_by(post_id=post_id).one()
                assert "Drafts" in (job.hint or ""), job.hint
            continue
        assert row.external_id == post["id"], (step.name, row.external_id, post["id"])
        if step.creates:
            assert "reconciled" in events(post_id), (step.name, events(post_id))
        if step.content in ("video", "reel"):
            [video] = [v for v in sandbox.objects(page_id)["videos"] if v["post_id"] == post["id"]]
            assert row.graph_ids["video_id"] == video["id"] and row.external_id != f"{page_id}_{video['id']}"
            assert row.publish_url.startswith("https://www.facebook.com/")


def test_a_scheduled_post_whose_time_passed_before_the_retry_is_found_among_published(db, sandbox, workers,
                                                                                     monkeypatch):
    """The create's answer is lost, the retry comes after a lease expired and after the scheduled time
    (the sandbox clock is moved past it): the post has left /scheduled_posts for /published_posts,
    and is adopted there instead of being scheduled a second time."""
    record = sandbox.add_page(name="Late")
    tenant_id = make_tenant("late")
    connect(tenant_id, record.page_id, record.token, "Late")
    when = (datetime.now(timezone.utc) + timedelta(minutes=14)).replace(microsecond=0)
    post_id = write_post(tenant_id, "went out  while we waited", when=when.isoformat())
    sandbox.set_faults([{"method": "POST", "path": "feed", "mode": "timeout", "count": 1, "seconds": 4.0}])
    # A lease of 6 s (two Graph timeouts): the reconciling attempt comes after it expired.
    workers.start(SOCIALCAL_PUBLISH_LEASE_SECONDS="6")
    approve_post(post_id)
    wait_for(lambda: sandbox.stats()["faults_fired"].get("timeout") == 1, 30, what="the lost create")
    sandbox.advance_clock(15 * 60)  # Meta's clock passes the scheduled time: the post goes out
    wait_for(lambda: post_row(post_id).status in TERMINAL, 60, what="the retry to settle")
    row = post_row(post_id)
    [post] = live_posts(sandbox, record.page_id)
    assert (row.status, post["status"], row.external_id) == (PostStatus.PUBLISHED, "published", post["id"])
    assert "reconciled" in events(post_id)
    get_settings.cache_clear()


def test_post_metrics_match_video_and_reel_posts_by_their_own_post_ids(db, sandbox, workers):
    """A video's Page post is not {page}_{video}: stored as read from the Video node, the daily post
    metrics find live video and Reel posts in /published_posts like any other."""
    record = sandbox.add_page(name="Videos")
    tenant_id = make_tenant("videos", auto_publish=True)
    integration_id = connect(tenant_id, record.page_id, record.token, "Videos")
    workers.start()
    post_ids = [write_post(tenant_id, f"{content} for metrics", when=_when("live"), **_payload(content))
                for content in ("video", "reel", "text")]
    for post_id in post_ids:
        approve_post(post_id)
    for post_id in post_ids:
        wait_for(lambda: post_row(post_id).status == PostStatus.PUBLISHED, 60, what="published")

    def unbudgeted(integration):
        token = get_cipher().decrypt(integration.api_key)
        return client_for_token(token, purpose="insights", scope_id=integration.page_id, budgeted=False)

    result = sync_post_metrics(integration_id, client_factory=unbudgeted)
    assert (result.tracked, result.rows, result.missing) == (3, 3, [])
