"""Video and Reel posts through the publisher in this process, against the sandbox over real HTTP.

A Reel is three calls (start, upload, finish) with status polls before the finish; a video is one
upload. Both are stored by the ``post_id`` and ``permalink_url`` read from their Video node. These
tests pin what the Page, the row, the events and the Graph calls show for: each mode end to end, a
resumption after every stored step (the step is not sent again), Meta still processing the upload,
a lost Reel finish (the Video node says whether it landed), and a video ``post_id`` that lags.
Written for the mutants of ``Publisher._reel``, ``_wait_for_reel``, ``_reconcile_reel``, ``_video``
and ``_video_post`` (issue 17)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from graph.client import GraphClient
from graph.sandbox.server import API_VERSION
from models import PostStatus, SocialPost, Tenant
from models.db import transaction
from tasks.domain import publisher as publisher_module
from tasks.domain.clients import budget_for, reserve_reel_slot
from tasks.domain.publisher import REEL_STATUS_POLLS, VIDEO_POST_READS
from tests.support.pipeline import (
    approve_post,
    aware,
    events,
    live_posts,
    post_row,
    write_post,
)
from tests.support.publishing import bring_due, event_details, failed_jobs, publish
from worker.core.settings import get_settings

pytestmark = pytest.mark.redis

VIDEO = {"url": "https://cdn.example/clip.mp4", "type": "video"}
STATUS_FOR = {"scheduled": PostStatus.SCHEDULED, "draft": PostStatus.PLATFORM_DRAFT, "live": PostStatus.PUBLISHED}
ON_PAGE_AS = {"scheduled": "scheduled", "draft": "draft", "live": "published"}
MEDIA_ROUTES = ("video_reels", "rupload", "video", "videos")


@pytest.fixture(autouse=True)
def quiet(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[Any]]:
    """No real waits between status polls, and wake-ups captured instead of sent to a broker."""
    seen: dict[str, list[Any]] = {"sleeps": [], "wake_ups": []}
    monkeypatch.setattr(publisher_module.time, "sleep", lambda seconds: seen["sleeps"].append(seconds))
    monkeypatch.setattr(publisher_module, "send_or_keep",
                        lambda *args, **kwargs: seen["wake_ups"].append((args, kwargs)) or True)
    return seen


@pytest.fixture
def slots(monkeypatch: pytest.MonkeyPatch, sandbox: Any) -> list[int]:
    """Each Reel slot the publisher takes, as the number of Reel calls the Page had seen by then."""
    taken: list[int] = []

    def reserve(settings: Any, page_id: str) -> None:
        taken.append(sandbox.stats()["calls_by_route"].get("POST video_reels", 0)
                     + sandbox.stats()["calls_by_route"].get("POST rupload", 0))
        reserve_reel_slot(settings, page_id)

    monkeypatch.setattr(publisher_module, "reserve_reel_slot", reserve)
    return taken


def _when(mode: str) -> str:
    ahead = {"scheduled": timedelta(days=2), "live": timedelta(seconds=-30), "draft": timedelta(minutes=5)}[mode]
    return (datetime.now(UTC) + ahead).replace(microsecond=0).isoformat()


def _media_post(page: dict[str, str], mode: str, message: str, content_type: str) -> str:
    if mode == "live":
        with transaction() as session:
            tenant = session.get(Tenant, page["tenant_id"])
            assert tenant is not None
            tenant.auto_publish = True
    extra: dict[str, Any] = {"content_type": "reel"} if content_type == "reel" else {}
    post_id = write_post(page["tenant_id"], message, when=_when(mode), media=[VIDEO], **extra)
    approve_post(post_id)
    return post_id


def _calls(sandbox: Any) -> list[str]:
    """The media calls sent to Graph, in order (faulted ones marked)."""
    return [f"{c['method']} {c['kind']}" + (" !" if c["fault"] else "")
            for c in sandbox.state.call_log() if c["kind"] in MEDIA_ROUTES]


def _video_node(sandbox: Any, page_id: str) -> dict[str, Any]:
    [video] = sandbox.objects(page_id)["videos"]
    return video


def _assert_reel_done(sandbox: Any, page: dict[str, str], post_id: str, mode: str, message: str) -> None:
    """The Reel is on the Page once, as ``mode`` says, and the row names it by its Video node."""
    row = post_row(post_id)
    video = _video_node(sandbox, page["page_id"])
    [on_page] = live_posts(sandbox, page["page_id"])
    assert (video["kind"], video["finished"], video["file_url"]) == ("reel", True, VIDEO["url"])
    assert (on_page["kind"], on_page["message"], on_page["status"], on_page["video_id"]) == (
        "reel", message, ON_PAGE_AS[mode], video["id"])
    assert on_page["id"] == video["post_id"]
    permalink = f"https://www.facebook.com/reel/{video['id']}/"  # Meta's path, made absolute
    assert (row.status, row.external_id, row.publish_url, row.publish_mode) == (
        STATUS_FOR[mode], on_page["id"], permalink, mode)
    assert {k: v for k, v in row.graph_ids.items() if k != "upload_url"} == {
        "reel_slot": True, "video_id": video["id"], "uploaded": True, "reel_finished": True,
        "post_id": on_page["id"], "permalink_url": permalink}
    assert row.graph_ids["upload_url"].endswith(f"/rupload/{API_VERSION}/{video['id']}")  # from the start
    assert row.lease_owner is None and row.due_at is None and "in_flight" not in row.publish_intent
    assert (row.published_at is not None) == (mode == "live")
    [done] = event_details(post_id, STATUS_FOR[mode])
    assert (done["external_id"], done["publish_url"]) == (on_page["id"], permalink)


# ----------------------------------------------------------------------------- Reels end to end


@pytest.fixture
def finishes(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """What each Reel finish sent (the call itself goes to the sandbox as ever)."""
    real = GraphClient.finish_reel
    sent: list[dict[str, Any]] = []

    def finish(self: GraphClient, page_id: str, video_id: str, **kwargs: Any) -> None:
        sent.append({"page_id": page_id, "video_id": video_id, **kwargs})
        real(self, page_id, video_id, **kwargs)

    monkeypatch.setattr(GraphClient, "finish_reel", finish)
    return sent


@pytest.mark.parametrize("mode", ["scheduled", "draft", "live"])
def test_a_reel_is_sent_once_in_each_mode_and_stored_by_its_video_node(page, sandbox, slots, finishes, mode):
    post_id = _media_post(page, mode, f"a {mode} reel", "reel")
    outcome = publish(post_id)
    row = post_row(post_id)
    assert outcome == {"post_id": post_id, "status": STATUS_FOR[mode], "external_id": row.external_id}
    _assert_reel_done(sandbox, page, post_id, mode, f"a {mode} reel")
    # One slot, taken before anything was sent, on this Page's count; then start, upload, one status poll,
    # finish, the post read.
    assert slots == [0] and budget_for(get_settings()).reels_in_window(page["page_id"]) == 1
    assert _calls(sandbox) == ["POST video_reels", "POST rupload", "GET video", "POST video_reels", "GET video"]
    [on_page] = live_posts(sandbox, page["page_id"])
    scheduled_at = int(aware(row.scheduled_at).timestamp())
    assert on_page["scheduled_publish_time"] == (scheduled_at if mode == "scheduled" else None)
    assert on_page["unpublished_content_type"] == {"scheduled": "SCHEDULED", "draft": "DRAFT", "live": None}[mode]
    # Meta's video_state names, as its reference spells them.
    assert [(f["page_id"], f["video_id"], f["video_state"], f["description"]) for f in finishes] == [
        (page["page_id"], row.graph_ids["video_id"], {"scheduled": "SCHEDULED", "draft": "DRAFT",
                                                      "live": "PUBLISHED"}[mode], f"a {mode} reel")]
    # A second message for the same post sends nothing more.
    assert publish(post_id, "w2")["status"] == "skipped"
    assert len(_calls(sandbox)) == 5


STEPS = {
    # step faulted: (fault rule, the media calls of both attempts)
    "start": ({"method": "POST", "path": "video_reels"},
              ["POST video_reels !", "POST video_reels", "POST rupload", "GET video", "POST video_reels",
               "GET video"]),
    "upload": ({"method": "POST", "path": "rupload"},
               ["POST video_reels", "POST rupload !", "POST rupload", "GET video", "POST video_reels", "GET video"]),
    "status": ({"method": "GET", "path": "video"},
               ["POST video_reels", "POST rupload", "GET video !", "GET video", "POST video_reels", "GET video"]),
    "post read": ({"method": "GET", "path": "video", "after": 1},
                  ["POST video_reels", "POST rupload", "GET video", "POST video_reels", "GET video !",
                   "GET video"]),
}


@pytest.mark.parametrize("step", list(STEPS))
def test_a_reel_resumes_after_each_stored_step_without_sending_it_again(page, sandbox, slots, step):
    """A transient error at one step: the retry goes on from the ids stored so far; the one Reel slot
    taken is not taken again, and nothing already sent (start, upload, finish) is sent twice."""
    rule, expected_calls = STEPS[step]
    sandbox.set_budget(reels_per_window=1)
    sandbox.set_faults([{**rule, "mode": "error", "code": 2, "count": 1}])
    post_id = _media_post(page, "scheduled", f"reel failing at {step}", "reel")
    first = publish(post_id)
    assert (first["status"], first["error"]) == ("waiting", "Transient")
    row = post_row(post_id)
    assert row.status == PostStatus.APPROVED and row.external_id is None
    stored = {"start": {"reel_slot"}, "upload": {"reel_slot", "video_id", "upload_url"},
              "status": {"reel_slot", "video_id", "upload_url", "uploaded"},
              "post read": {"reel_slot", "video_id", "upload_url", "uploaded", "reel_finished"}}[step]
    assert set(row.graph_ids) == stored
    assert len(live_posts(sandbox, page["page_id"])) == (1 if step == "post read" else 0)
    bring_due(post_id)
    assert publish(post_id, "w2")["status"] == PostStatus.SCHEDULED
    _assert_reel_done(sandbox, page, post_id, "scheduled", f"reel failing at {step}")
    assert _calls(sandbox) == expected_calls
    assert slots == [0]  # Meta's own limit is 1 here: a second slot would have been refused
    assert "reconciled" not in events(post_id)  # a definite error: nothing to look up


def test_a_reel_without_a_free_slot_sends_nothing_and_waits_approved(page, sandbox, monkeypatch):
    """Meta's 30 Reels a day are counted before the upload: with none free, no Graph call is made."""
    monkeypatch.setenv("SOCIALCAL_REELS_PER_WINDOW", "1")
    get_settings.cache_clear()
    reserve_reel_slot(get_settings(), page["page_id"])  # another Reel took the Page's only slot
    post_id = _media_post(page, "scheduled", "one reel too many", "reel")
    outcome = publish(post_id)
    assert outcome["status"] == "waiting"
    row = post_row(post_id)
    assert row.status == PostStatus.APPROVED and row.due_at is not None
    assert "reel_slot" not in (row.graph_ids or {}) and "video_id" not in (row.graph_ids or {})
    assert _calls(sandbox) == [] and sandbox.objects(page["page_id"])["videos"] == []
    assert failed_jobs(post_id) == []


# ----------------------------------------------------------------------------- waiting for Meta's processing


def _status_script(monkeypatch: pytest.MonkeyPatch, answers: list[dict[str, Any]],
                   on_poll: Any = None) -> list[str]:
    """``video_status`` answers ``answers`` in turn (the real call is still sent), then Graph's own."""
    real = GraphClient.video_status
    polled: list[str] = []

    def scripted(self: GraphClient, video_id: str) -> dict[str, Any]:
        status = real(self, video_id)
        polled.append(video_id)
        if on_poll is not None:
            on_poll(len(polled))
        return answers.pop(0) if answers else status

    monkeypatch.setattr(GraphClient, "video_status", scripted)
    return polled


PROCESSING = {"video_status": "processing", "uploading_phase": {"status": "in_progress"}}


def test_a_reel_still_processing_waits_and_is_sent_again_each_poll_renewing_the_lease(
        page, sandbox, monkeypatch, quiet):
    post_id = _media_post(page, "scheduled", "slow reel", "reel")
    aged = datetime(2001, 1, 1, tzinfo=UTC)
    leases: list[Any] = []

    def age_the_lease(poll: int) -> None:
        """What each poll saw as the lease, then the lease made old, as if the poll had taken long."""
        with transaction() as session:
            post = session.get(SocialPost, post_id)
            assert post is not None
            leases.append(aware(post.lease_expires_at))
            post.lease_expires_at = post.due_at = aged

    polled = _status_script(monkeypatch, [dict(PROCESSING) for _ in range(REEL_STATUS_POLLS)], age_the_lease)
    first = publish(post_id)
    assert first == {"post_id": post_id, "status": "waiting"}
    assert len(polled) == REEL_STATUS_POLLS == 5
    assert all(lease != aged for lease in leases), leases  # every poll after the first renewed it
    assert quiet["sleeps"] == [0.2, 0.4, 0.8, 1.6, 2.0]  # doubling, at most 2 s
    row = post_row(post_id)
    assert row.status == PostStatus.APPROVED and row.lease_owner is None
    assert set(row.graph_ids) == {"reel_slot", "video_id", "upload_url", "uploaded"}
    assert live_posts(sandbox, page["page_id"]) == []  # not finished while Meta processes it
    [(args, kwargs)] = quiet["wake_ups"]
    assert args[1:] == (post_id,) and kwargs == {"countdown": 30.0}

    bring_due(post_id)
    assert publish(post_id, "w2")["status"] == PostStatus.SCHEDULED
    _assert_reel_done(sandbox, page, post_id, "scheduled", "slow reel")
    # Start and upload once; five polls, then one more that found it ready; one finish.
    assert _calls(sandbox) == ["POST video_reels", "POST rupload", *["GET video"] * 6, "POST video_reels",
                               "GET video"]


@pytest.mark.parametrize(("status", "ready"), [
    ({"video_status": "ready"}, True),
    ({"video_status": "published", "uploading_phase": {"status": "in_progress"}}, True),
    ({"video_status": "processing", "uploading_phase": {"status": "complete"}}, True),
    ({"video_status": "processing", "uploading_phase": {"status": "in_progress"}}, False),
    ({"video_status": "processing"}, False),
    ({"video_status": "error", "uploading_phase": {"status": "error"}}, False),
    ({}, False),
])
def test_the_finish_waits_until_the_upload_is_complete(page, sandbox, monkeypatch, quiet, status, ready):
    post_id = _media_post(page, "scheduled", "polled reel", "reel")
    polled = _status_script(monkeypatch, [status])
    assert publish(post_id)["status"] == PostStatus.SCHEDULED
    assert len(polled) == (1 if ready else 2)  # not ready: polled again (Graph's own answer: ready)
    assert quiet["sleeps"] == ([] if ready else [0.2])


def test_a_reel_meta_is_still_processing_finishes_once_the_upload_is_complete(page, sandbox):
    """The sandbox's own processing phase: the upload is complete, which is all the finish needs."""
    sandbox.set_faults(video_processing_seconds=600)
    post_id = _media_post(page, "live", "fresh reel", "reel")
    assert publish(post_id)["status"] == PostStatus.PUBLISHED
    _assert_reel_done(sandbox, page, post_id, "live", "fresh reel")


def test_a_reel_whose_lease_was_taken_during_the_polls_stops_without_finishing(page, sandbox, monkeypatch):
    post_id = _media_post(page, "scheduled", "taken over", "reel")

    def take_over(poll: int) -> None:
        with transaction() as session:
            post = session.get(SocialPost, post_id)
            assert post is not None
            post.lease_owner = "w2"

    _status_script(monkeypatch, [dict(PROCESSING)], take_over)
    assert publish(post_id) == {"post_id": post_id, "status": "lease_lost"}
    assert _calls(sandbox) == ["POST video_reels", "POST rupload", "GET video"]
    assert live_posts(sandbox, page["page_id"]) == []


# ----------------------------------------------------------------------------- a lost Reel finish


@pytest.mark.parametrize("mode", ["scheduled", "draft", "live"])
def test_a_reel_finish_whose_answer_was_lost_is_adopted_from_its_video_node(page, sandbox, mode):
    sandbox.set_faults([{"method": "POST", "path": "video_reels", "after": 1, "mode": "apply_then_fail",
                         "count": 1}])
    post_id = _media_post(page, mode, f"lost {mode} finish", "reel")
    assert publish(post_id)["status"] == "waiting"
    row = post_row(post_id)
    assert row.status == PostStatus.APPROVED and row.publish_intent["in_flight"]["step"] == "reel_finish"
    assert "reel_finished" not in row.graph_ids
    bring_due(post_id)
    second = publish(post_id, "w2")
    assert second["status"] == STATUS_FOR[mode]
    _assert_reel_done(sandbox, page, post_id, mode, f"lost {mode} finish")
    video = _video_node(sandbox, page["page_id"])
    assert event_details(post_id, "reconciled") == [{"step": "reel_finish", "mode": mode,
                                                     "adopted": video["post_id"]}]
    # The Video node was read, not finished again.
    assert _calls(sandbox) == ["POST video_reels", "POST rupload", "GET video", "POST video_reels !", "GET video"]
    assert failed_jobs(post_id) == []


@pytest.mark.parametrize("mode", ["scheduled", "draft", "live"])
def test_a_reel_finish_that_never_landed_is_finished_again(page, sandbox, mode):
    sandbox.set_faults([{"method": "POST", "path": "video_reels", "after": 1, "mode": "error", "code": 2,
                         "count": 1}])
    post_id = _media_post(page, mode, f"unsent {mode} finish", "reel")
    assert publish(post_id)["status"] == "waiting"
    assert post_row(post_id).publish_intent["in_flight"]["step"] == "reel_finish"
    bring_due(post_id)
    assert publish(post_id, "w2")["status"] == STATUS_FOR[mode]
    _assert_reel_done(sandbox, page, post_id, mode, f"unsent {mode} finish")
    assert event_details(post_id, "reconciled") == [{"step": "reel_finish", "mode": mode}]  # adopted: None
    # The Video node had no post: the same video finished again (no second start or upload).
    assert _calls(sandbox) == ["POST video_reels", "POST rupload", "GET video", "POST video_reels !",
                               "GET video", "GET video", "POST video_reels", "GET video"]


def test_a_lost_reel_finish_looked_up_once_is_not_looked_up_again_after_a_processing_wait(
        page, sandbox, monkeypatch):
    sandbox.set_faults([{"method": "POST", "path": "video_reels", "after": 1, "mode": "error", "code": 2,
                         "count": 1}])
    post_id = _media_post(page, "scheduled", "lost, then slow", "reel")
    assert publish(post_id)["status"] == "waiting"
    bring_due(post_id)
    _status_script(monkeypatch, [dict(PROCESSING) for _ in range(REEL_STATUS_POLLS)])
    assert publish(post_id, "w2") == {"post_id": post_id, "status": "waiting"}  # looked, not there; processing
    assert "in_flight" not in post_row(post_id).publish_intent  # the Video node said: not finished
    bring_due(post_id)
    assert publish(post_id, "w3")["status"] == PostStatus.SCHEDULED
    assert len(event_details(post_id, "reconciled")) == 1
    _assert_reel_done(sandbox, page, post_id, "scheduled", "lost, then slow")


def test_a_lost_reel_finish_adopted_without_a_permalink_gets_the_reel_url(page, sandbox, monkeypatch):
    sandbox.set_faults([{"method": "POST", "path": "video_reels", "after": 1, "mode": "apply_then_fail",
                         "count": 1}])
    post_id = _media_post(page, "scheduled", "no permalink", "reel")
    assert publish(post_id)["status"] == "waiting"
    real = GraphClient.video_post

    def without_permalink(self: GraphClient, video_id: str) -> Any:
        found = real(self, video_id)
        return found.__class__(found.post_id, None)

    monkeypatch.setattr(GraphClient, "video_post", without_permalink)
    bring_due(post_id)
    assert publish(post_id, "w2")["status"] == PostStatus.SCHEDULED
    row, video = post_row(post_id), _video_node(sandbox, page["page_id"])
    assert row.external_id == video["post_id"] and "permalink_url" not in row.graph_ids
    assert row.publish_url == f"https://www.facebook.com/reel/{video['id']}"


# ----------------------------------------------------------------------------- videos


@pytest.mark.parametrize("mode", ["scheduled", "draft", "live"])
def test_a_video_is_sent_once_in_each_mode_and_stored_by_its_own_post_id(page, sandbox, mode):
    post_id = _media_post(page, mode, f"a {mode} video", "video")
    outcome = publish(post_id)
    row, video = post_row(post_id), _video_node(sandbox, page["page_id"])
    [on_page] = live_posts(sandbox, page["page_id"])
    assert outcome == {"post_id": post_id, "status": STATUS_FOR[mode], "external_id": on_page["id"]}
    assert (on_page["kind"], on_page["message"], on_page["status"], on_page["video_id"]) == (
        "video", f"a {mode} video", ON_PAGE_AS[mode], video["id"])
    assert on_page["id"] == video["post_id"] != f"{page['page_id']}_{video['id']}"
    assert (video["kind"], video["file_url"], video["description"]) == ("video", VIDEO["url"], f"a {mode} video")
    permalink = f"https://www.facebook.com/{page['page_id']}/videos/{video['id']}/"
    assert (row.status, row.external_id, row.publish_url) == (STATUS_FOR[mode], on_page["id"], permalink)
    assert row.graph_ids == {"video_id": video["id"], "post_id": on_page["id"], "permalink_url": permalink}
    scheduled_at = int(aware(row.scheduled_at).timestamp())
    assert on_page["scheduled_publish_time"] == (scheduled_at if mode == "scheduled" else None)
    assert on_page["unpublished_content_type"] == {"scheduled": "SCHEDULED", "draft": "DRAFT", "live": None}[mode]
    assert _calls(sandbox) == ["POST videos", "GET video"]


def _lagging_post_id(monkeypatch: pytest.MonkeyPatch, reads_without: int) -> list[str]:
    """The Video node names its post only from read ``reads_without + 1`` on (the real read is sent)."""
    real = GraphClient.video_post
    reads: list[str] = []

    def lagging(self: GraphClient, video_id: str) -> Any:
        found = real(self, video_id)
        reads.append(video_id)
        return found if len(reads) > reads_without else found.__class__(None, found.permalink_url)

    monkeypatch.setattr(GraphClient, "video_post", lagging)
    return reads


@pytest.mark.parametrize("content_type", ["video", "reel"])
def test_a_video_post_id_that_lags_is_read_again_later_without_sending_the_video_again(
        page, sandbox, monkeypatch, quiet, content_type):
    post_id = _media_post(page, "scheduled", f"lagging {content_type}", content_type)
    reads = _lagging_post_id(monkeypatch, 2)
    for attempt in (1, 2):
        assert publish(post_id, f"w{attempt}") == {"post_id": post_id, "status": "waiting"}
        row = post_row(post_id)
        assert row.status == PostStatus.APPROVED and row.external_id is None
        assert row.graph_ids["post_reads"] == attempt
        assert row.graph_ids["permalink_url"].startswith("https://www.facebook.com/")  # kept meanwhile
        bring_due(post_id)
    assert publish(post_id, "w3")["status"] == PostStatus.SCHEDULED
    row, video = post_row(post_id), _video_node(sandbox, page["page_id"])
    assert len(reads) == 3 and row.external_id == video["post_id"] and len(live_posts(sandbox, page["page_id"])) == 1
    assert row.graph_ids["post_reads"] == 2
    sent = [c for c in _calls(sandbox) if c.startswith("POST")]
    assert sent == (["POST videos"] if content_type == "video" else ["POST video_reels", "POST rupload", "POST video_reels"])
    assert len(quiet["wake_ups"]) == 2


def test_a_video_whose_post_id_never_comes_is_stored_by_its_video_id_after_the_last_read(
        page, sandbox, monkeypatch):
    post_id = _media_post(page, "scheduled", "nameless video", "video")
    reads = _lagging_post_id(monkeypatch, 99)
    for attempt in range(1, VIDEO_POST_READS):
        assert publish(post_id, f"w{attempt}")["status"] == "waiting"
        assert post_row(post_id).graph_ids["post_reads"] == attempt
        bring_due(post_id)
    outcome = publish(post_id, "last")
    row, video = post_row(post_id), _video_node(sandbox, page["page_id"])
    assert len(reads) == VIDEO_POST_READS == 5
    assert outcome == {"post_id": post_id, "status": PostStatus.SCHEDULED, "external_id": video["id"]}
    permalink = f"https://www.facebook.com/{page['page_id']}/videos/{video['id']}/"
    assert (row.status, row.external_id, row.publish_url) == (PostStatus.SCHEDULED, video["id"], permalink)
    assert row.graph_ids == {"video_id": video["id"], "permalink_url": permalink, "post_reads": 5}
    assert _calls(sandbox) == ["POST videos"] + ["GET video"] * 5


@pytest.mark.parametrize("content_type", ["video", "reel"])
def test_a_video_post_id_already_stored_is_used_without_reading_the_video_again(page, sandbox, content_type):
    """A row that already holds the Video node's post id (an earlier attempt's, or an earlier version's)
    sends nothing at all and completes with it."""
    post_id = _media_post(page, "scheduled", f"stored {content_type}", content_type)
    stored: dict[str, Any] = {"video_id": "122000000000077", "post_id": "122000000000078",
                              "permalink_url": "https://www.facebook.com/reel/122000000000077/"}
    if content_type == "reel":
        stored.update(reel_slot=True, upload_url="https://upload.example/77", uploaded=True, reel_finished=True)
    with transaction() as session:
        post = session.get(SocialPost, post_id)
        assert post is not None
        post.graph_ids = stored
    assert publish(post_id)["status"] == PostStatus.SCHEDULED
    row = post_row(post_id)
    assert (row.external_id, row.publish_url, row.graph_ids) == ("122000000000078", stored["permalink_url"], stored)
    assert _calls(sandbox) == []


def test_a_video_upload_whose_answer_was_lost_is_adopted_with_its_video_id(page, sandbox):
    sandbox.set_faults([{"method": "POST", "path": "videos", "mode": "apply_then_fail", "count": 1}])
    post_id = _media_post(page, "scheduled", "lost video answer", "video")
    assert publish(post_id)["status"] == "waiting"
    assert post_row(post_id).publish_intent["in_flight"]["step"] == "video"
    bring_due(post_id)
    assert publish(post_id, "w2")["status"] == PostStatus.SCHEDULED
    row, video = post_row(post_id), _video_node(sandbox, page["page_id"])
    assert (row.external_id, row.graph_ids["video_id"]) == (video["post_id"], video["id"])
    assert row.publish_url == f"https://www.facebook.com/{page['page_id']}/videos/{video['id']}"
    assert len(live_posts(sandbox, page["page_id"])) == 1 and "reconciled" in events(post_id)
    assert [c for c in _calls(sandbox) if c.startswith("POST")] == ["POST videos !"]
