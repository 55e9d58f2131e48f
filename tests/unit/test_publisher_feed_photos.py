"""Text, link, photo and album posts through the publisher in this process, against the sandbox: each
mode (live, scheduled, draft) makes the post Meta shows for it, the row keeps the ids Graph returned
the moment they return (so a crash re-sends nothing that landed), an id already stored is never
created again, and a publish costs the writes ``Publisher._fenced`` promises."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from graph.client import PhotoResult
from graph.errors import Transient
from models import PostStatus, SocialPost, utcnow
from models.db import transaction
from tasks.domain import publish_store
from tasks.domain.publisher import publish_url
from tests.support.factories import connect, make_tenant
from tests.support.pipeline import approve_post, aware, live_posts, post_row, write_post
from tests.support.publishing import bring_due, client_factory_with, publish
from worker.core.settings import get_settings

pytestmark = pytest.mark.redis

IMAGE = {"url": "https://cdn.example/cake.jpg", "type": "image", "alt_text": "A lemon cake"}
ALBUM = [{"url": f"https://cdn.example/{i}.jpg", "type": "image"} for i in range(3)]


def _soon(minutes: float) -> str:
    return (datetime.now(UTC) + timedelta(minutes=minutes)).replace(microsecond=0).isoformat()


def _graph_writes(sandbox: Any) -> list[str]:
    """The route kinds of every POST the sandbox answered (what was sent to create something)."""
    return [call["kind"] for call in sandbox.state.call_log() if call["method"] == "POST"]


def _live_tenant(sandbox: Any, page: dict[str, str]) -> str:
    """A tenant that opted in to going live, on a Page of its own (one Page per tenant)."""
    record = sandbox.add_page(page_id=str(int(page["page_id"]) + 1), name="Live", token=page["page_id"] + "live")
    tenant_id = make_tenant("Live Co", auto_publish=True)
    connect(tenant_id, record.page_id, record.token, "Live")
    return tenant_id


# ----------------------------------------------------------------------------- text and link posts


def test_a_live_text_post_is_published_on_the_page_with_one_create(page, sandbox):
    tenant_id = _live_tenant(sandbox, page)
    post_id = write_post(tenant_id, "open today", when=_soon(0))
    approve_post(post_id)
    outcome = publish(post_id)
    row = post_row(post_id)
    assert outcome == {"post_id": post_id, "status": PostStatus.PUBLISHED, "external_id": row.external_id}
    assert (row.status, row.publish_mode) == (PostStatus.PUBLISHED, "live")
    assert row.published_at is not None and row.last_error is None
    [on_page] = live_posts(sandbox, str(int(page["page_id"]) + 1))
    assert (on_page["id"], on_page["status"], on_page["message"]) == (row.external_id, "published", "open today")
    assert on_page["unpublished_content_type"] is None
    assert _graph_writes(sandbox) == ["feed"] and row.graph_ids == {"post_id": row.external_id}
    page_part, post_part = row.external_id.split("_", 1)
    assert row.publish_url == f"https://www.facebook.com/{page_part}/posts/{post_part}"


def test_a_link_post_due_within_twelve_minutes_is_a_page_draft_with_its_link(page, sandbox):
    post_id = write_post(page["tenant_id"], "see the menu", when=_soon(5), link="https://example.com/menu")
    approve_post(post_id)
    assert publish(post_id)["status"] == PostStatus.PLATFORM_DRAFT
    row = post_row(post_id)
    assert (row.status, row.publish_mode, row.published_at) == (PostStatus.PLATFORM_DRAFT, "draft", None)
    [on_page] = live_posts(sandbox, page["page_id"])
    assert (on_page["id"], on_page["status"], on_page["unpublished_content_type"]) == (
        row.external_id, "draft", "DRAFT")
    assert (on_page["kind"], on_page["link"], on_page["message"]) == ("link", "https://example.com/menu",
                                                                       "see the menu")


def test_a_scheduled_post_carries_its_time_to_meta_and_to_the_intent(page, sandbox):
    post_id = write_post(page["tenant_id"], "next week", link="https://example.com/a")
    approve_post(post_id)
    publish(post_id)
    row = post_row(post_id)
    at = int(aware(row.scheduled_at).timestamp())
    [on_page] = live_posts(sandbox, page["page_id"])
    assert (on_page["status"], on_page["scheduled_publish_time"], on_page["link"]) == (
        "scheduled", at, "https://example.com/a")
    assert on_page["unpublished_content_type"] == "SCHEDULED"
    assert (row.publish_intent["mode"], row.publish_intent["scheduled_publish_time"]) == ("scheduled", at)
    assert "in_flight" not in row.publish_intent


@pytest.mark.parametrize(("extra", "when"), [
    ({}, None),
    ({"link": "https://example.com/x"}, None),
    ({"media": [IMAGE]}, None),
    ({"media": [IMAGE]}, "draft"),
    ({"media": ALBUM}, None),
])
def test_a_post_id_already_stored_is_never_created_again(page, sandbox, extra, when):
    """A requeued post whose Page post is known (adopted, or stored by an earlier attempt) completes
    with that id and sends no create at all: the id is the guard against a second post."""
    post_id = write_post(page["tenant_id"], "known already", when=_soon(5) if when == "draft" else None, **extra)
    approve_post(post_id)
    known = f"{page['page_id']}_424242"
    with transaction() as s:
        s.get(SocialPost, post_id).graph_ids = {"post_id": known}
    outcome = publish(post_id)
    assert outcome["external_id"] == known and post_row(post_id).external_id == known
    assert _graph_writes(sandbox) == [] and live_posts(sandbox, page["page_id"]) == []


# ----------------------------------------------------------------------------- what is written when


def _count_fenced_writes(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    writes: list[dict[str, Any]] = []
    real = publish_store.fenced_update

    def spy(session, post_id, owner, values):
        writes.append(dict(values))
        return real(session, post_id, owner, values)

    monkeypatch.setattr(publish_store, "fenced_update", spy)
    return writes


@pytest.mark.parametrize("extra", [{}, {"media": [IMAGE]}])
def test_a_post_whose_answer_names_it_costs_two_writes_after_the_claim(page, sandbox, monkeypatch, extra):
    """Intent before the call, outcome after it: the id Graph returns is stored by the outcome's write."""
    writes = _count_fenced_writes(monkeypatch)
    post_id = write_post(page["tenant_id"], "two writes", **extra)
    approve_post(post_id)
    publish(post_id)
    assert len(writes) == 2
    assert writes[0]["publish_intent"]["in_flight"]["step"] == ("photo" if extra else "feed")
    assert writes[1]["status"] == PostStatus.SCHEDULED and "in_flight" not in writes[1]["publish_intent"]


def test_the_lease_runs_from_each_write_and_the_create_is_marked_in_flight_while_it_is_sent(page, sandbox):
    post_id = write_post(page["tenant_id"], "during the call")
    approve_post(post_id)
    seen: dict[str, Any] = {}

    def create_feed_post(create):
        def call(*args, **kwargs):
            row = post_row(post_id)
            seen.update(status=row.status, intent=dict(row.publish_intent), lease=row.lease_expires_at,
                        due=row.due_at, mode=row.publish_mode, now=utcnow())
            return create(*args, **kwargs)
        return call

    publish(post_id, client_factory=client_factory_with(create_feed_post=create_feed_post))
    lease = timedelta(seconds=get_settings().publish_lease_seconds)
    assert seen["status"] == PostStatus.PUBLISHING and seen["mode"] == "scheduled"
    assert seen["intent"]["in_flight"]["step"] == "feed" and seen["intent"]["in_flight"]["message"] == "during the call"
    assert seen["intent"]["mode"] == "scheduled" and seen["intent"]["page_id"] == page["page_id"]
    lease_until = aware(seen["lease"])
    assert lease - timedelta(seconds=5) <= lease_until - seen["now"] <= lease
    assert seen["due"] == seen["lease"]


def test_a_lost_feed_create_leaves_the_mark_that_sends_it_to_reconciliation(page, sandbox):
    sandbox.set_faults([{"method": "POST", "path": "feed", "mode": "drop", "count": 1}])
    post_id = write_post(page["tenant_id"], "dropped")
    approve_post(post_id)
    assert publish(post_id)["status"] == "waiting"
    in_flight = post_row(post_id).publish_intent["in_flight"]
    assert (in_flight["step"], in_flight["message"]) == ("feed", "dropped")


# ----------------------------------------------------------------------------- photos


def test_a_live_photo_is_its_page_post_with_caption_and_alt_text(page, sandbox):
    tenant_id = _live_tenant(sandbox, page)
    page_id = str(int(page["page_id"]) + 1)
    post_id = write_post(tenant_id, "cake day", when=_soon(0), media=[IMAGE])
    approve_post(post_id)
    assert publish(post_id)["status"] == PostStatus.PUBLISHED
    row = post_row(post_id)
    [photo] = sandbox.objects(page_id)["photos"]
    [on_page] = live_posts(sandbox, page_id)
    assert (photo["caption"], photo["alt_text"], photo["published"]) == ("cake day", "A lemon cake", True)
    assert row.external_id == on_page["id"] == photo["post_id"] != photo["id"]
    assert row.graph_ids["photo_id"] == photo["id"] and row.graph_ids["post_id"] == on_page["id"]
    assert on_page["status"] == "published" and _graph_writes(sandbox) == ["photos"]


def test_a_scheduled_photo_is_scheduled_at_its_time(page, sandbox):
    post_id = write_post(page["tenant_id"], "tomorrow's cake", media=[IMAGE])
    approve_post(post_id)
    publish(post_id)
    row = post_row(post_id)
    [photo] = sandbox.objects(page["page_id"])["photos"]
    at = int(aware(row.scheduled_at).timestamp())
    assert (photo["published"], photo["scheduled_publish_time"]) == (False, at)
    assert live_posts(sandbox, page["page_id"])[0]["status"] == "scheduled"


def test_a_draft_photo_is_a_draft_feed_post_with_the_photo_attached(page, sandbox):
    post_id = write_post(page["tenant_id"], "draft cake", when=_soon(5), media=[IMAGE])
    approve_post(post_id)
    assert publish(post_id)["status"] == PostStatus.PLATFORM_DRAFT
    row = post_row(post_id)
    [photo] = sandbox.objects(page["page_id"])["photos"]
    [on_page] = live_posts(sandbox, page["page_id"])
    assert (on_page["status"], on_page["unpublished_content_type"], on_page["attached_media"]) == (
        "draft", "DRAFT", [photo["id"]])
    assert photo["published"] is False and photo["temporary"] is False
    assert row.external_id == on_page["id"] and _graph_writes(sandbox) == ["photos", "feed"]


def test_a_photo_answer_without_its_post_is_completed_from_page_story_id(page, sandbox, monkeypatch):
    """Graph may answer /photos with the photo id alone: the id is stored at once (no reconciliation
    after a crash here), and the Page post is read from the photo's ``page_story_id``."""
    post_id = write_post(page["tenant_id"], "story", media=[IMAGE])
    approve_post(post_id)
    writes = _count_fenced_writes(monkeypatch)
    seen: dict[str, Any] = {}

    def upload_photo(upload):
        return lambda *a, **k: PhotoResult(id=upload(*a, **k).id, post_id=None)

    def photo_post_id(real_read):
        def read(photo_id):
            row = post_row(post_id)
            seen.update(graph_ids=dict(row.graph_ids), intent=dict(row.publish_intent), asked=photo_id)
            return real_read(photo_id)
        return read

    publish(post_id, client_factory=client_factory_with(upload_photo=upload_photo, photo_post_id=photo_post_id))
    row = post_row(post_id)
    [photo] = sandbox.objects(page["page_id"])["photos"]
    assert seen["asked"] == photo["id"] and seen["graph_ids"] == {"photo_id": photo["id"]}
    assert "in_flight" not in seen["intent"]
    assert row.external_id == photo["post_id"] and row.graph_ids == {"photo_id": photo["id"], "post_id": photo["post_id"]}
    assert row.status == PostStatus.SCHEDULED and len(writes) == 3  # intent, photo id, outcome


def test_a_photo_whose_post_cannot_be_read_stands_in_by_its_own_id(page, sandbox):
    post_id = write_post(page["tenant_id"], "no story", media=[IMAGE])
    approve_post(post_id)
    publish(post_id, client_factory=client_factory_with(
        upload_photo=lambda upload: lambda *a, **k: PhotoResult(id=upload(*a, **k).id, post_id=None),
        photo_post_id=lambda _read: lambda photo_id: None))
    [photo] = sandbox.objects(page["page_id"])["photos"]
    row = post_row(post_id)
    assert (row.status, row.external_id) == (PostStatus.SCHEDULED, photo["id"])
    assert row.publish_url == f"https://www.facebook.com/{photo['id']}"


def test_a_stored_photo_is_not_uploaded_again_when_reading_its_post_failed(page, sandbox):
    post_id = write_post(page["tenant_id"], "retry the read", media=[IMAGE])
    approve_post(post_id)

    def failing_read(_read):
        def read(photo_id):
            raise Transient("(#2) Service temporarily unavailable", code=2)
        return read

    first = publish(post_id, client_factory=client_factory_with(
        upload_photo=lambda upload: lambda *a, **k: PhotoResult(id=upload(*a, **k).id, post_id=None),
        photo_post_id=failing_read))
    assert first["status"] == "waiting"
    [photo] = sandbox.objects(page["page_id"])["photos"]
    assert post_row(post_id).graph_ids == {"photo_id": photo["id"]}
    bring_due(post_id)
    assert publish(post_id, "w2")["status"] == PostStatus.SCHEDULED
    assert len(sandbox.objects(page["page_id"])["photos"]) == 1 and _graph_writes(sandbox) == ["photos"]
    assert post_row(post_id).external_id == photo["post_id"]


# ----------------------------------------------------------------------------- albums


def test_a_live_album_attaches_every_photo_to_one_published_post(page, sandbox):
    tenant_id = _live_tenant(sandbox, page)
    page_id = str(int(page["page_id"]) + 1)
    post_id = write_post(tenant_id, "three cakes", when=_soon(0), media=ALBUM)
    approve_post(post_id)
    assert publish(post_id)["status"] == PostStatus.PUBLISHED
    row = post_row(post_id)
    photos = sandbox.objects(page_id)["photos"]
    [on_page] = live_posts(sandbox, page_id)
    assert on_page["status"] == "published" and on_page["attached_media"] == [
        row.graph_ids["photos"][str(i)]["id"] for i in range(3)]
    url_of = {p["id"]: p["url"] for p in photos}  # uploaded at once: in any order, attached in the post's
    assert [url_of[media_id] for media_id in on_page["attached_media"]] == [m["url"] for m in ALBUM]
    assert all(p["temporary"] is False and p["attached_to"] == on_page["id"] for p in photos)
    assert row.graph_ids["post_id"] == row.external_id == on_page["id"]


def test_an_album_post_id_is_stored_by_the_outcome_write_right_after_the_in_flight_mark(page, sandbox, monkeypatch):
    writes = _count_fenced_writes(monkeypatch)
    post_id = write_post(page["tenant_id"], "album writes", media=ALBUM)
    approve_post(post_id)
    publish(post_id)
    mark, outcome = writes[-2:]
    assert mark["publish_intent"]["in_flight"]["step"] == "feed" and "post_id" not in mark["graph_ids"]
    assert outcome["status"] == PostStatus.SCHEDULED and outcome["graph_ids"]["post_id"] == outcome["external_id"]


def test_a_lost_draft_album_create_fails_at_once_as_unknown(page, sandbox):
    """No edge lists drafts, so a draft create whose answer was lost cannot be checked: it fails now,
    saying so, instead of waiting for a reconciliation that cannot tell."""
    from tasks.domain.publisher import OutcomeUnknown

    sandbox.set_faults([{"method": "POST", "path": "feed", "mode": "drop", "count": 1}])
    post_id = write_post(page["tenant_id"], "draft album lost", when=_soon(5), media=ALBUM)
    approve_post(post_id)
    with pytest.raises(OutcomeUnknown):
        publish(post_id)
    row = post_row(post_id)
    assert row.status == PostStatus.FAILED and row.publish_intent["in_flight"]["step"] == "feed"


def test_a_scheduled_album_uploads_temporary_photos(page, sandbox):
    post_id = write_post(page["tenant_id"], "later cakes", media=ALBUM)
    approve_post(post_id)
    publish(post_id)
    photos = sandbox.objects(page["page_id"])["photos"]
    [on_page] = live_posts(sandbox, page["page_id"])
    assert all(p["temporary"] is True for p in photos) and on_page["status"] == "scheduled"
    assert on_page["scheduled_publish_time"] is not None


def test_a_draft_album_is_a_draft_with_its_photos(page, sandbox):
    post_id = write_post(page["tenant_id"], "draft cakes", when=_soon(5), media=ALBUM)
    approve_post(post_id)
    assert publish(post_id)["status"] == PostStatus.PLATFORM_DRAFT
    [on_page] = live_posts(sandbox, page["page_id"])
    assert (on_page["status"], on_page["unpublished_content_type"], len(on_page["attached_media"])) == (
        "draft", "DRAFT", 3)


def test_album_photos_stored_by_an_attempt_are_reused_by_the_next(page, sandbox):
    sandbox.set_faults([{"method": "POST", "path": "feed", "mode": "error", "code": 2, "count": 1}])
    post_id = write_post(page["tenant_id"], "reuse", media=ALBUM)
    approve_post(post_id)
    assert publish(post_id)["status"] == "waiting"
    stored = post_row(post_id).graph_ids["photos"]
    assert len(stored) == 3  # code 2 on a create is ambiguous: the next attempt looks first, then sends
    bring_due(post_id)
    assert publish(post_id, "w2")["status"] == PostStatus.SCHEDULED
    assert len(sandbox.objects(page["page_id"])["photos"]) == 3
    assert _graph_writes(sandbox) == ["photos"] * 3 + ["feed", "feed"]
    assert post_row(post_id).graph_ids["photos"] == stored


def test_expired_album_photos_are_forgotten_so_a_requeue_uploads_fresh_ones(page, sandbox):
    """Meta refuses a post whose unpublished photos expired (code 100, "photo ... expired"): the post
    fails with that reason, and the stored photo ids are dropped so a requeue does not reuse them."""
    tenant_id = _live_tenant(sandbox, page)
    sandbox.set_faults([{"method": "POST", "path": "feed", "mode": "error", "code": 2, "count": 1}])
    post_id = write_post(tenant_id, "stale photos", when=_soon(0), media=ALBUM)
    approve_post(post_id)
    assert publish(post_id)["status"] == "waiting"
    assert len(post_row(post_id).graph_ids["photos"]) == 3
    sandbox.advance_clock(25 * 3600)
    bring_due(post_id)
    with pytest.raises(Exception, match="expired"):
        publish(post_id, "w2")
    row = post_row(post_id)
    assert row.status == PostStatus.FAILED and "expired" in row.last_error
    assert "photos" not in row.graph_ids


def test_a_refusal_that_is_not_about_photos_keeps_the_uploads(page, sandbox):
    sandbox.set_faults([{"method": "POST", "path": "feed", "mode": "error", "code": 100, "count": 1,
                         "message": "(#100) Invalid parameter"}])
    post_id = write_post(page["tenant_id"], "keep photos", media=ALBUM)
    approve_post(post_id)
    with pytest.raises(Exception, match="Invalid parameter"):
        publish(post_id)
    assert len(post_row(post_id).graph_ids["photos"]) == 3


# ----------------------------------------------------------------------------- where a person sees it


@pytest.mark.parametrize(("content_type", "external_id", "graph_ids", "url"), [
    ("text", "111_222", {}, "https://www.facebook.com/111/posts/222"),
    ("album", "111_222_333", {}, "https://www.facebook.com/111/posts/222_333"),
    ("photo", "987", {}, "https://www.facebook.com/987"),
    ("video", "555", {"video_id": "777"}, "https://www.facebook.com/111/videos/777"),
    ("video", "555", {}, "https://www.facebook.com/111/videos/555"),
    ("reel", "555", {"video_id": "777"}, "https://www.facebook.com/reel/777"),
    ("reel", "555", {}, "https://www.facebook.com/reel/555"),
])
def test_publish_url_when_graph_gave_no_permalink(content_type, external_id, graph_ids, url):
    assert publish_url(content_type, "111", external_id, graph_ids) == url
