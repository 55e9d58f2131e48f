"""Reconciliation, the publish intent and the outcome row of the publisher, in this process against the
sandbox: an answer lost after Meta applied the write (``apply_then_fail``, ``drop``) is looked up where
the post can be now (tasks/domain/reconcile.py) and adopted, never sent again; a lost create Meta did
not apply is sent once more; a lost draft is "outcome unknown" for a person. Plus when a post is sent
at all (``choose_mode``'s boundaries, ``run`` releasing a post that waits for its window) and what
``complete`` writes. Written for the survivors of a mutation run of tasks/domain/publisher.py (issue 17)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from graph.errors import InvalidRequest
from models import PostStatus, SocialPost, Tenant, TenantStatus, utcnow
from models.db import transaction
from tasks.domain import reconcile as recon
from tasks.domain.publisher import (
    OutcomeUnknown,
    Publisher,
    Snapshot,
    default_client_factory,
)
from tests.support.factories import integration
from tests.support.pipeline import (
    approve_post,
    aware,
    events,
    future,
    live_posts,
    post_row,
    write_post,
)
from tests.support.publishing import (
    bring_due,
    client_factory_with,
    event_details,
    failed_jobs,
    publish,
)
from worker.core.settings import get_settings

pytestmark = pytest.mark.redis

VIDEO = [{"url": "https://cdn.example/v.mp4", "type": "video"}]


# ----------------------------------------------------------------------------- helpers


def _lose_answer(sandbox: Any, path: str = "feed", mode: str = "apply_then_fail") -> None:
    """The next create on ``path`` is applied by Meta but its answer never reaches us."""
    sandbox.set_faults([{"method": "POST", "path": path, "mode": mode, "rate": 1.0, "count": 1}])


def _calls(sandbox: Any, route: str) -> int:
    return int(sandbox.stats()["calls_by_route"].get(route, 0))


def _auto_publish(tenant_id: str) -> None:
    with transaction() as session:
        tenant = session.get(Tenant, tenant_id)
        assert tenant is not None
        tenant.auto_publish = True


def _edit_row(post_id: str, **values: Any) -> None:
    with transaction() as session:
        post = session.get(SocialPost, post_id)
        assert post is not None
        for key, value in values.items():
            setattr(post, key, value)


def _age_in_flight(post_id: str, seconds: float) -> None:
    """The lost call went out ``seconds`` earlier than recorded (its lease has expired since)."""
    intent = dict(post_row(post_id).publish_intent)
    intent["in_flight"] = {**intent["in_flight"], "at": intent["in_flight"]["at"] - seconds}
    _edit_row(post_id, publish_intent=intent)


def _expire_lease(post_id: str) -> None:
    """The worker holding the post died: its lease ran out."""
    past = utcnow() - timedelta(seconds=1)
    _edit_row(post_id, lease_expires_at=past, due_at=past)


class WorkerKilled(BaseException):
    """The worker died right after a call went out (nothing of ours catches this)."""


def _dies_after(method: str) -> Any:
    """A client factory whose ``method`` reaches Graph and then the worker dies before the answer."""

    def wrap(call: Any) -> Any:
        def then_die(*args: Any, **kwargs: Any) -> Any:
            call(*args, **kwargs)
            raise WorkerKilled(method)
        return then_die

    return client_factory_with(**{method: wrap})


def _scheduled_unix(post_id: str) -> int:
    return int(aware(post_row(post_id).scheduled_at).timestamp())


def _lost_then_retried(page: dict[str, str], message: str, **extra: Any) -> tuple[str, dict[str, Any]]:
    post_id = write_post(page["tenant_id"], message, **extra)
    approve_post(post_id)
    first = publish(post_id)
    assert first["status"] == "waiting" and first["error"] == "Ambiguous"
    row = post_row(post_id)
    assert row.status == PostStatus.APPROVED and row.publish_intent["in_flight"]["message"] == message
    bring_due(post_id)
    return post_id, first


# ----------------------------------------------------------------------------- adopted, not sent again


@pytest.mark.parametrize("fault", ["apply_then_fail", "drop"])
def test_a_lost_scheduled_create_is_adopted_from_scheduled_posts(page, sandbox, fault):
    _lose_answer(sandbox, mode=fault)
    post_id, _ = _lost_then_retried(page, "lost scheduled")
    assert post_row(post_id).last_error  # the first attempt's error, cleared by the outcome

    outcome = publish(post_id, "w2")

    [on_page] = live_posts(sandbox, page["page_id"])
    assert on_page["message"] == "lost scheduled" and on_page["status"] == "scheduled"
    assert outcome == {"post_id": post_id, "status": PostStatus.SCHEDULED, "external_id": on_page["id"]}
    row = post_row(post_id)
    page_part, post_part = on_page["id"].split("_", 1)
    assert (row.status, row.external_id, row.publish_url) == (
        PostStatus.SCHEDULED, on_page["id"], f"https://www.facebook.com/{page_part}/posts/{post_part}")
    assert row.published_at is None and row.last_error is None
    assert row.lease_owner is None and row.lease_expires_at is None and row.due_at is None
    assert row.graph_ids == {"post_id": on_page["id"]}
    assert "in_flight" not in row.publish_intent
    assert event_details(post_id, "reconciled") == [{
        "step": "feed", "mode": "scheduled", "places": ["scheduled_posts"], "adopted": on_page["id"],
        "candidates": 1}]
    assert event_details(post_id, "scheduled") == [{
        "external_id": on_page["id"], "publish_url": row.publish_url, "graph_ids": {"post_id": on_page["id"]}}]
    # Looked up once, never created a second time.
    assert (_calls(sandbox, "POST feed"), _calls(sandbox, "GET scheduled_posts"),
            _calls(sandbox, "GET published_posts")) == (1, 1, 0)


def test_a_lost_scheduled_create_that_went_out_since_is_adopted_from_published_posts(page, sandbox):
    _lose_answer(sandbox)
    post_id, _ = _lost_then_retried(page, "lost and gone out")
    # The retry comes after the lease expired around the call, and Meta has published the post since.
    _age_in_flight(post_id, get_settings().publish_lease_seconds + 30)
    sandbox.advance_clock(3 * 86400)

    outcome = publish(post_id, "w2")

    [on_page] = live_posts(sandbox, page["page_id"])
    assert on_page["status"] == "published"
    assert outcome["status"] == PostStatus.PUBLISHED and outcome["external_id"] == on_page["id"]
    row = post_row(post_id)
    assert (row.status, row.external_id) == (PostStatus.PUBLISHED, on_page["id"])
    assert row.published_at is not None
    assert event_details(post_id, "reconciled") == [{
        "step": "feed", "mode": "scheduled", "places": ["scheduled_posts", "published_posts"],
        "adopted": on_page["id"], "candidates": 1}]
    assert _calls(sandbox, "POST feed") == 1


def test_a_lost_live_create_is_adopted_from_published_posts(page, sandbox):
    _auto_publish(page["tenant_id"])
    _lose_answer(sandbox)
    post_id = write_post(page["tenant_id"], "lost live", when=future(days=0))
    approve_post(post_id)
    bring_due(post_id)
    assert publish(post_id)["status"] == "waiting"
    assert post_row(post_id).publish_intent["mode"] == "live"
    bring_due(post_id)

    outcome = publish(post_id, "w2")

    [on_page] = live_posts(sandbox, page["page_id"])
    assert on_page["status"] == "published" and on_page["message"] == "lost live"
    assert outcome == {"post_id": post_id, "status": PostStatus.PUBLISHED, "external_id": on_page["id"]}
    row = post_row(post_id)
    assert (row.status, row.external_id, row.publish_mode) == (PostStatus.PUBLISHED, on_page["id"], "live")
    assert row.published_at is not None and row.lease_owner is None and row.last_error is None
    page_part, post_part = on_page["id"].split("_", 1)
    assert row.publish_url == f"https://www.facebook.com/{page_part}/posts/{post_part}"
    assert event_details(post_id, "reconciled") == [{
        "step": "feed", "mode": "live", "places": ["published_posts"], "adopted": on_page["id"],
        "candidates": 1}]
    assert event_details(post_id, "published")[0]["external_id"] == on_page["id"]
    assert (_calls(sandbox, "POST feed"), _calls(sandbox, "GET scheduled_posts")) == (1, 0)


def test_a_lost_video_create_is_adopted_with_the_video_it_made(page, sandbox):
    _lose_answer(sandbox, path="videos")
    post_id, _ = _lost_then_retried(page, "lost video", media=VIDEO)
    assert post_row(post_id).publish_intent["in_flight"]["step"] == "video"

    outcome = publish(post_id, "w2")

    [video] = sandbox.objects(page["page_id"])["videos"]
    [on_page] = live_posts(sandbox, page["page_id"])
    assert on_page["id"] == video["post_id"] != f"{page['page_id']}_{video['id']}"
    assert outcome["status"] == PostStatus.SCHEDULED and outcome["external_id"] == on_page["id"]
    row = post_row(post_id)
    assert row.graph_ids == {"post_id": on_page["id"], "video_id": video["id"]}
    assert row.publish_url == f"https://www.facebook.com/{page['page_id']}/videos/{video['id']}"
    assert event_details(post_id, "reconciled")[0]["adopted"] == on_page["id"]
    assert (_calls(sandbox, "POST videos"), _calls(sandbox, "GET videos")) == (1, 1)


# ----------------------------------------------------------------------------- not found: sent once more


def test_a_lost_create_meta_did_not_apply_is_sent_once_more(page, sandbox):
    # Our other post with the same text (but for whitespace) and time is on the Page already: it is never
    # taken for this one.
    when = future()
    sibling = write_post(page["tenant_id"], "same  words", when=when)
    approve_post(sibling)
    assert publish(sibling)["status"] == PostStatus.SCHEDULED
    sandbox.set_faults([{"method": "POST", "path": "feed", "mode": "error", "code": 1, "http_status": 500,
                         "rate": 1.0, "count": 1}])
    post_id, _ = _lost_then_retried(page, "same words", when=when)
    first_intent = post_row(post_id).publish_intent
    started_at = first_intent["started_at"]
    assert started_at <= first_intent["in_flight"]["at"]  # publishing started before the call went out

    outcome = publish(post_id, "w2")

    assert outcome["status"] == PostStatus.SCHEDULED
    on_page = live_posts(sandbox, page["page_id"])
    assert sorted(p["id"] for p in on_page) == sorted([post_row(sibling).external_id, outcome["external_id"]])
    assert outcome["external_id"] != post_row(sibling).external_id
    assert event_details(post_id, "reconciled") == [{  # (a None is not stored)
        "step": "feed", "mode": "scheduled", "places": ["scheduled_posts"], "candidates": 1}]
    # Refused once, applied once: sent exactly once more.
    assert _calls(sandbox, "POST feed") == 3
    row = post_row(post_id)
    assert row.publish_intent == {"mode": "scheduled", "scheduled_publish_time": _scheduled_unix(post_id),
                                  "phases": 1, "page_id": page["page_id"], "content_type": "text",
                                  "started_at": started_at, "transient_attempts": 1}
    # The intent did not change between the attempts: one publish_intent event.
    assert event_details(post_id, "publish_intent") == [
        {"mode": "scheduled", "scheduled_publish_time": _scheduled_unix(post_id)}]


# ----------------------------------------------------------------------------- outcome unknown


def test_a_lost_draft_create_fails_as_outcome_unknown_and_is_not_sent_again(page, sandbox):
    post_id = write_post(page["tenant_id"], "lost draft", when=future(days=5 / 1440))  # 5 min: a draft
    approve_post(post_id)
    with pytest.raises(WorkerKilled):
        publish(post_id, client_factory=_dies_after("create_feed_post"))
    assert post_row(post_id).publish_intent["in_flight"]["step"] == "feed"
    _expire_lease(post_id)

    with pytest.raises(OutcomeUnknown) as unknown:
        publish(post_id, "w2", task_id="task-7")

    reason = "the draft create (feed) may or may not have reached the Page, and no Graph edge lists drafts"
    assert str(unknown.value) == reason and unknown.value.hint == recon.DRAFT_HINT
    row = post_row(post_id)
    assert (row.status, row.last_error, row.lease_owner, row.due_at) == (PostStatus.FAILED, reason, None, None)
    assert event_details(post_id, "outcome_unknown") == [{"reason": reason}]
    [job] = failed_jobs(post_id)
    assert (job.error_class, job.task_id, job.args, job.hint) == (
        "OutcomeUnknown", "task-7", [post_id], recon.DRAFT_HINT)
    [draft] = [p for p in sandbox.objects(page["page_id"])["posts"]]
    assert draft["status"] == "draft"
    assert (_calls(sandbox, "POST feed"), _calls(sandbox, "GET scheduled_posts"),
            _calls(sandbox, "GET published_posts")) == (1, 0, 0)


@pytest.mark.parametrize("code", [100, 10, 200, 299])
def test_a_listing_refused_for_good_makes_the_outcome_unknown(page, sandbox, code):
    _lose_answer(sandbox)
    post_id, _ = _lost_then_retried(page, "cannot look")
    sandbox.set_faults([{"method": "GET", "path": "scheduled_posts", "mode": "error", "code": code,
                         "http_status": 400, "rate": 1.0, "count": 1}])

    with pytest.raises(OutcomeUnknown) as unknown:
        publish(post_id, "w2")

    assert str(unknown.value).startswith("cannot list the Page's scheduled posts to check an unknown outcome (")
    assert unknown.value.hint == OutcomeUnknown.hint
    row = post_row(post_id)
    assert row.status == PostStatus.FAILED and row.last_error == str(unknown.value)
    assert "reconciled" not in events(post_id)
    [job] = failed_jobs(post_id)
    assert job.error_class == "OutcomeUnknown"
    assert len(live_posts(sandbox, page["page_id"])) == 1 and _calls(sandbox, "POST feed") == 1


@pytest.mark.parametrize("code", [1, 2])
def test_a_listing_that_fails_for_now_keeps_the_post_waiting_to_look_again(page, sandbox, code):
    _lose_answer(sandbox)
    post_id, _ = _lost_then_retried(page, "look later")
    sandbox.set_faults([{"method": "GET", "path": "scheduled_posts", "mode": "error", "code": code,
                         "http_status": 500, "rate": 1.0, "count": 1}])

    assert publish(post_id, "w2")["status"] == "waiting"

    row = post_row(post_id)
    assert row.status == PostStatus.APPROVED and row.publish_intent["in_flight"]["step"] == "feed"
    assert "reconciled" not in events(post_id) and failed_jobs(post_id) == []
    bring_due(post_id)
    assert publish(post_id, "w3")["status"] == PostStatus.SCHEDULED
    assert len(live_posts(sandbox, page["page_id"])) == 1 and _calls(sandbox, "POST feed") == 1


def test_a_listing_error_outside_the_permission_codes_is_an_ordinary_failure(page, sandbox):
    _lose_answer(sandbox)
    post_id, _ = _lost_then_retried(page, "code 300")
    sandbox.set_faults([{"method": "GET", "path": "scheduled_posts", "mode": "error", "code": 300,
                         "http_status": 400, "rate": 1.0, "count": 1}])

    with pytest.raises(InvalidRequest):
        publish(post_id, "w2")

    assert post_row(post_id).status == PostStatus.FAILED
    assert "failed" in events(post_id) and "outcome_unknown" not in events(post_id)
    assert [job.error_class for job in failed_jobs(post_id)] == ["InvalidRequest"]


# ----------------------------------------------------------------------------- the intent


def test_a_new_time_writes_a_publish_intent_event_with_it(page, sandbox):
    post_id = write_post(page["tenant_id"], "moved")
    approve_post(post_id)
    when = _scheduled_unix(post_id)
    # An earlier attempt meant the same mode at another time (nothing in flight).
    _edit_row(post_id, publish_intent={"mode": "scheduled", "scheduled_publish_time": when - 3600, "phases": 1,
                                       "started_at": 1_800_000_000.0})

    assert publish(post_id)["status"] == PostStatus.SCHEDULED

    assert event_details(post_id, "publish_intent") == [{"mode": "scheduled", "scheduled_publish_time": when}]
    row = post_row(post_id)
    assert row.publish_intent["scheduled_publish_time"] == when
    assert row.publish_intent["started_at"] == 1_800_000_000.0  # when publishing first started
    [on_page] = live_posts(sandbox, page["page_id"])
    assert on_page["scheduled_publish_time"] == when


def test_a_live_intent_of_the_two_phase_publisher_is_created_again_in_one_call(page, sandbox):
    _auto_publish(page["tenant_id"])
    post_id = write_post(page["tenant_id"], "old two-phase", when=future(days=0))
    approve_post(post_id)
    bring_due(post_id)
    # The unpublished first phase of the old publisher: listed by no edge, its id is useless.
    _edit_row(post_id, publish_intent={"mode": "live", "started_at": 1_800_000_000.0},
              graph_ids={"post_id": f"{page['page_id']}_1"})

    outcome = publish(post_id)

    [on_page] = live_posts(sandbox, page["page_id"])
    assert outcome == {"post_id": post_id, "status": PostStatus.PUBLISHED, "external_id": on_page["id"]}
    assert on_page["id"] != f"{page['page_id']}_1" and on_page["status"] == "published"
    row = post_row(post_id)
    assert row.graph_ids == {"post_id": on_page["id"]} and row.publish_intent["phases"] == 1
    assert _calls(sandbox, "POST feed") == 1


# ----------------------------------------------------------------------------- choose_mode and run


NOW = datetime(2030, 6, 1, 12, 0, tzinfo=UTC)


def _mode(*, ahead: timedelta | None, auto_publish: bool = False, content_type: str = "text",
          max_days: int = 29) -> tuple[str, datetime | None, datetime | None]:
    settings = dataclasses.replace(get_settings(), schedule_max_days=max_days)
    publisher = Publisher("post", "w1", settings, client_factory=lambda integration: None)  # type: ignore[arg-type,return-value]
    snap = Snapshot(post_id="post", tenant_id="tenant", integration=None, content_type=content_type,  # type: ignore[arg-type]
                    message="m", link=None, media=[], scheduled_at=None if ahead is None else NOW + ahead,
                    auto_publish=auto_publish, graph_ids={}, intent={})
    return publisher.choose_mode(snap, NOW)


def test_auto_publish_goes_live_now_or_waits_for_a_time_more_than_a_minute_ahead():
    assert _mode(ahead=None, auto_publish=True) == ("live", None, None)
    assert _mode(ahead=timedelta(minutes=-5), auto_publish=True) == ("live", None, None)
    assert _mode(ahead=timedelta(minutes=1), auto_publish=True) == ("live", None, None)
    later = timedelta(minutes=1, seconds=1)
    assert _mode(ahead=later, auto_publish=True) == ("live", None, NOW + later)
    assert _mode(ahead=timedelta(seconds=90), auto_publish=True) == ("live", None, NOW + timedelta(seconds=90))
    assert _mode(ahead=timedelta(days=40), auto_publish=True) == ("live", None, NOW + timedelta(days=40))


def test_without_auto_publish_a_post_is_scheduled_within_the_window_and_drafted_when_too_close():
    window = timedelta(days=29)
    assert _mode(ahead=window) == ("scheduled", NOW + window, None)
    assert _mode(ahead=timedelta(minutes=12)) == ("scheduled", NOW + timedelta(minutes=12), None)
    assert _mode(ahead=timedelta(minutes=12) - timedelta(seconds=1)) == ("draft", None, None)
    assert _mode(ahead=timedelta(minutes=9)) == ("draft", None, None)
    assert _mode(ahead=None) == ("draft", None, None)
    beyond = window + timedelta(seconds=1)
    # Waits until an hour inside the window.
    assert _mode(ahead=beyond) == ("scheduled", NOW + beyond, NOW + beyond - window + timedelta(hours=1))


def test_reels_are_scheduled_at_most_29_days_ahead_whatever_the_window():
    assert _mode(ahead=timedelta(days=40), max_days=60) == ("scheduled", NOW + timedelta(days=40), None)
    ahead = timedelta(days=29, seconds=1)
    assert _mode(ahead=ahead, content_type="reel", max_days=60) == (
        "scheduled", NOW + ahead, NOW + ahead - timedelta(days=29) + timedelta(hours=1))
    assert _mode(ahead=timedelta(days=29), content_type="reel", max_days=60) == (
        "scheduled", NOW + timedelta(days=29), None)
    assert _mode(ahead=timedelta(days=10), content_type="reel", max_days=7) == (
        "scheduled", NOW + timedelta(days=10), NOW + timedelta(days=3, hours=1))


def test_run_releases_a_post_beyond_the_window_until_an_hour_inside_it_and_sends_nothing(page, sandbox):
    post_id = write_post(page["tenant_id"], "far ahead", when=future(days=40))
    approve_post(post_id)
    bring_due(post_id)
    publisher = Publisher(post_id, "w1", get_settings(), default_client_factory(get_settings()))
    assert publisher.claim_and_load()
    now = utcnow()

    outcome = publisher.run(now)

    scheduled_at = aware(post_row(post_id).scheduled_at)
    due = scheduled_at - timedelta(days=get_settings().schedule_max_days) + timedelta(hours=1)
    assert (outcome.status, outcome.external_id, outcome.detail) == ("waiting", None, {"due_at": due.isoformat()})
    row = post_row(post_id)
    assert (row.status, aware(row.due_at), row.lease_owner, row.lease_expires_at) == (
        PostStatus.APPROVED, due, None, None)
    assert sum(sandbox.stats()["calls_by_route"].values()) == 0
    assert publish(post_id)["status"] == "skipped"  # not due before then


def test_run_releases_an_auto_publish_post_until_its_time(page, sandbox):
    _auto_publish(page["tenant_id"])
    post_id = write_post(page["tenant_id"], "at noon", when=future(days=1))
    approve_post(post_id)
    bring_due(post_id)

    assert publish(post_id) == {"post_id": post_id, "status": "waiting", "external_id": None}

    row = post_row(post_id)
    assert (row.status, aware(row.due_at)) == (PostStatus.APPROVED, aware(row.scheduled_at))
    assert live_posts(sandbox, page["page_id"]) == []


# ----------------------------------------------------------------------------- what the claim loads


def test_a_refused_post_of_a_paused_tenant_fails_rather_than_waits(page, sandbox):
    from tasks.domain.claim import GateRefused

    post_id = write_post(page["tenant_id"], "approved words")
    approve_post(post_id)
    _edit_row(post_id, message="other words")
    with transaction() as session:
        tenant = session.get(Tenant, page["tenant_id"])
        assert tenant is not None
        tenant.status = TenantStatus.PAUSED

    with pytest.raises(GateRefused):
        publish(post_id)

    row = post_row(post_id)
    assert (row.status, row.hold_reason) == (PostStatus.FAILED, None)
    [job] = failed_jobs(post_id)
    assert (job.error_class, job.error_message) == ("GateRefused", "content differs from what was approved")


def test_the_last_allowed_attempt_still_publishes_and_clears_a_past_hold(page, sandbox):
    post_id = write_post(page["tenant_id"], "last try", link="https://example.com/menu")
    approve_post(post_id)
    # Held once (the tenant was paused), and every attempt but the last one spent.
    _edit_row(post_id, attempts=get_settings().max_publish_attempts - 1, hold_reason="tenant is paused")

    assert publish(post_id)["status"] == PostStatus.SCHEDULED

    row = post_row(post_id)
    assert (row.attempts, row.hold_reason) == (get_settings().max_publish_attempts, None)
    [on_page] = live_posts(sandbox, page["page_id"])
    assert (on_page["message"], on_page["link"]) == ("last try", "https://example.com/menu")


def test_ids_stored_by_an_earlier_attempt_are_used_not_made_again(page, sandbox):
    post_id = write_post(page["tenant_id"], "uploaded once", media=VIDEO)
    approve_post(post_id)
    # The video was made and its id stored; the worker died reading the video's post.
    with pytest.raises(WorkerKilled):
        publish(post_id, client_factory=_dies_after("video_post"))
    [video] = sandbox.objects(page["page_id"])["videos"]
    assert post_row(post_id).graph_ids == {"video_id": video["id"]}
    _expire_lease(post_id)

    outcome = publish(post_id, "w2")

    assert outcome["status"] == PostStatus.SCHEDULED and outcome["external_id"] == video["post_id"]
    assert len(sandbox.objects(page["page_id"])["videos"]) == 1 and _calls(sandbox, "POST videos") == 1


def test_a_lost_video_create_meta_did_not_apply_is_uploaded_once_more(page, sandbox):
    sandbox.set_faults([{"method": "POST", "path": "videos", "mode": "error", "code": 1, "http_status": 500,
                         "rate": 1.0, "count": 1}])
    post_id, _ = _lost_then_retried(page, "video not made", media=VIDEO)

    outcome = publish(post_id, "w2")

    [video] = sandbox.objects(page["page_id"])["videos"]
    assert outcome["status"] == PostStatus.SCHEDULED and outcome["external_id"] == video["post_id"]
    assert post_row(post_id).graph_ids["video_id"] == video["id"]
    assert (_calls(sandbox, "POST videos"), _calls(sandbox, "GET videos")) == (2, 0)


def test_a_post_of_the_same_text_at_another_time_is_not_taken_for_ours(page, sandbox):
    sandbox.set_faults([{"method": "POST", "path": "feed", "mode": "error", "code": 1, "http_status": 500,
                         "rate": 1.0, "count": 1}])
    post_id, _ = _lost_then_retried(page, "same text")
    # Someone scheduled the same text by hand, for another time, around our call.
    client = default_client_factory(get_settings())(integration(page["integration_id"]))
    theirs = client.create_feed_post(page["page_id"], message="same text", published=False,
                                     scheduled_at=aware(post_row(post_id).scheduled_at) + timedelta(hours=1))

    outcome = publish(post_id, "w2")

    assert outcome["status"] == PostStatus.SCHEDULED and outcome["external_id"] != theirs
    assert sorted(p["id"] for p in live_posts(sandbox, page["page_id"])) == sorted([theirs, outcome["external_id"]])
    assert event_details(post_id, "reconciled")[0]["candidates"] == 1


def test_a_reel_keeps_its_finished_ids_under_a_live_intent_of_the_two_phase_publisher(page, sandbox):
    _auto_publish(page["tenant_id"])
    post_id = write_post(page["tenant_id"], "old reel", when=future(days=0), media=VIDEO, content_type="reel")
    approve_post(post_id)
    bring_due(post_id)
    # Reels were always finished in one call: their ids are the post's, whatever the old intent says.
    permalink = f"https://www.facebook.com/{page['page_id']}/videos/777/"
    _edit_row(post_id, publish_intent={"mode": "live", "started_at": 1_800_000_000.0},
              graph_ids={"reel_slot": True, "video_id": "777", "uploaded": True, "reel_finished": True,
                         "post_id": f"{page['page_id']}_778", "permalink_url": permalink})

    outcome = publish(post_id)

    assert outcome == {"post_id": post_id, "status": PostStatus.PUBLISHED, "external_id": f"{page['page_id']}_778"}
    row = post_row(post_id)
    assert (row.publish_url, row.graph_ids["video_id"]) == (permalink, "777")
    assert sum(sandbox.stats()["calls_by_route"].values()) == 0


def test_a_lost_reel_finish_is_adopted_from_its_video_node(page, sandbox):
    sandbox.set_faults([{"method": "POST", "path": "video_reels", "mode": "apply_then_fail", "rate": 1.0,
                         "count": 1, "after": 1}], video_processing_seconds=0)
    post_id, _ = _lost_then_retried(page, "lost reel", media=VIDEO, content_type="reel")
    assert post_row(post_id).publish_intent["in_flight"]["step"] == "reel_finish"

    outcome = publish(post_id, "w2")

    [reel] = sandbox.objects(page["page_id"])["videos"]
    assert outcome == {"post_id": post_id, "status": PostStatus.SCHEDULED, "external_id": reel["post_id"]}
    row = post_row(post_id)
    assert (row.status, row.graph_ids["post_id"], row.graph_ids["reel_finished"]) == (
        PostStatus.SCHEDULED, reel["post_id"], True)
    assert event_details(post_id, "reconciled") == [
        {"step": "reel_finish", "mode": "scheduled", "adopted": reel["post_id"]}]
    assert (_calls(sandbox, "POST video_reels"), _calls(sandbox, "GET scheduled_posts")) == (2, 0)


def test_a_create_the_page_showed_was_not_made_is_not_looked_up_again(page, sandbox):
    images = [{"url": f"https://cdn.example/{i}.jpg", "type": "image"} for i in range(3)]
    sandbox.set_faults([{"method": "POST", "path": "feed", "mode": "error", "code": 1, "http_status": 500,
                         "rate": 1.0, "count": 1}])
    post_id, _ = _lost_then_retried(page, "album not made", media=images)
    # One photo is too old to attach by now, and its new upload is lost too.
    ids = dict(post_row(post_id).graph_ids)
    ids["photos"] = {**ids["photos"], "2": {**ids["photos"]["2"], "at": ids["photos"]["2"]["at"] - 86400}}
    _edit_row(post_id, graph_ids=ids)
    sandbox.set_faults([{"method": "POST", "path": "photos", "mode": "error", "code": 1, "http_status": 500,
                         "rate": 1.0, "count": 1}])
    assert publish(post_id, "w2")["status"] == "waiting"
    assert "in_flight" not in post_row(post_id).publish_intent
    bring_due(post_id)

    assert publish(post_id, "w3")["status"] == PostStatus.SCHEDULED

    assert [p["message"] for p in live_posts(sandbox, page["page_id"])] == ["album not made"]
    assert len(event_details(post_id, "reconciled")) == 1 and _calls(sandbox, "GET scheduled_posts") == 1
