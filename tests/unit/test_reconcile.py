"""Reconciliation rules as plain functions: where a post could be now, and which listed post is ours."""

from __future__ import annotations

from typing import Any

import pytest

from tasks.domain import reconcile as recon

SENT = 1_900_000_000.0  # when the create call went out
WHEN = int(SENT) + 3600  # its scheduled time
LEASE = 90.0


def _item(post_id: str, message: str | None, *, created: float = SENT + 1, scheduled: int | None = None) -> dict:
    from datetime import datetime, timezone

    item: dict[str, Any] = {"id": post_id,
                            "created_time": datetime.fromtimestamp(created, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S+0000")}
    if message is not None:
        item["message"] = message
    if scheduled is not None:
        item["scheduled_publish_time"] = scheduled
    return item


@pytest.mark.parametrize("listed", [
    "Hello  world", " Hello world\n", "Hello\tworld", "Hello\n\nworld ",
])
def test_messages_match_after_whitespace_is_normalised(listed):
    found = recon.match([_item("1_2", listed)], message="Hello world", scheduled_publish_time=None,
                        sent_at=SENT, taken=set())
    assert found == "1_2"


def test_a_different_message_or_none_does_not_match():
    items = [_item("1_2", "Hello worlds"), _item("1_3", None)]
    assert recon.match(items, message="Hello world", scheduled_publish_time=None, sent_at=SENT, taken=set()) is None
    # A post without a message matches only a post without one.
    assert recon.match(items, message=None, scheduled_publish_time=None, sent_at=SENT, taken=set()) == "1_3"


def test_a_post_already_taken_by_another_of_ours_is_never_adopted():
    items = [_item("1_2", "Same text"), _item("1_3", "Same text")]
    assert recon.match(items, message="Same text", scheduled_publish_time=None, sent_at=SENT,
                       taken={"1_2"}) == "1_3"
    assert recon.match(items, message="Same text", scheduled_publish_time=None, sent_at=SENT,
                       taken={"1_2", "1_3"}) is None


def test_scheduled_time_must_agree_and_old_posts_are_not_ours():
    items = [_item("1_2", "Hi", scheduled=WHEN + 60), _item("1_3", "Hi", created=SENT - 3600),
             _item("1_4", "Hi", scheduled=WHEN)]
    assert recon.match(items, message="Hi", scheduled_publish_time=WHEN, sent_at=SENT, taken=set()) == "1_4"
    # A published post (no scheduled time listed) must have been created around the call, not before.
    assert recon.match(items[1:2], message="Hi", scheduled_publish_time=None, sent_at=SENT, taken=set()) is None


def test_where_a_post_could_be_now():
    # Scheduled, its time still ahead and the call recent: only /scheduled_posts can hold it.
    assert recon.places_to_look("scheduled", WHEN, now=SENT + 10, sent_at=SENT, lease_seconds=LEASE) == \
        ("scheduled_posts",)
    # Its time has passed: it may have gone out, so /published_posts too.
    assert recon.places_to_look("scheduled", WHEN, now=WHEN + 5, sent_at=SENT, lease_seconds=LEASE) == \
        ("scheduled_posts", "published_posts")
    # A lease expired around the call (a dead worker, a long pause): look in both as well.
    assert recon.places_to_look("scheduled", WHEN, now=SENT + LEASE + 1, sent_at=SENT, lease_seconds=LEASE) == \
        ("scheduled_posts", "published_posts")
    # Live posts are created published; drafts are listed by no edge.
    assert recon.places_to_look("live", None, now=SENT + 10, sent_at=SENT, lease_seconds=LEASE) == ("published_posts",)
    assert recon.places_to_look("draft", None, now=SENT + 10, sent_at=SENT, lease_seconds=LEASE) == ()


class _Client:
    """Two listings and a record of what was asked."""

    def __init__(self, scheduled: list[dict], published: list[dict]) -> None:
        self.scheduled, self.published, self.asked = scheduled, published, []  # type: list[dict], list[dict], list

    def list_scheduled_posts(self, page_id: str) -> list[dict]:
        self.asked.append(("scheduled_posts", page_id))
        return self.scheduled

    def list_published_posts(self, page_id: str, **kwargs: Any) -> list[dict]:
        self.asked.append(("published_posts", page_id, kwargs))
        return self.published


def test_a_scheduled_post_whose_time_passed_is_found_in_published_posts():
    client = _Client(scheduled=[], published=[_item("1_9", "Went out", created=WHEN)])
    places = recon.places_to_look("scheduled", WHEN, now=WHEN + 60, sent_at=SENT, lease_seconds=LEASE)
    found, seen = recon.find(client, "1", places, message="Went out", scheduled_publish_time=WHEN,  # type: ignore[arg-type]
                             sent_at=SENT, taken=set())
    assert found == recon.Found("1_9", "published_posts") and seen == 1
    assert [a[0] for a in client.asked] == ["scheduled_posts", "published_posts"]
    _, _, kwargs = client.asked[1]
    assert kwargs["since"] == int(SENT - recon.CREATED_SLACK_SECONDS) and kwargs["fields"] == "id,message,created_time"


def test_a_post_found_where_first_looked_spends_no_second_listing():
    client = _Client(scheduled=[_item("1_9", "Later", scheduled=WHEN)], published=[])
    found, _ = recon.find(client, "1", ("scheduled_posts", "published_posts"), message="Later",  # type: ignore[arg-type]
                          scheduled_publish_time=WHEN, sent_at=SENT, taken=set())
    assert found == recon.Found("1_9", "scheduled_posts") and len(client.asked) == 1


def test_a_live_intent_from_two_phase_publishing_forgets_its_unpublished_first_phase():
    intent = {"mode": "live", "page_id": "1"}
    ids = {"post_id": "1_2", "photos": {"0": {"id": "7", "at": 0}}}
    assert recon.forget_two_phase_leftovers(intent, ids, "album") is True
    assert ids == {} and intent["phases"] == 1
    # Single-phase intents, other modes and Reels keep what they stored.
    for intent, content in (({"mode": "live", "phases": 1}, "text"), ({"mode": "scheduled"}, "text"),
                            ({"mode": "live"}, "reel")):
        kept = {"post_id": "1_2", "video_id": "9"}
        assert recon.forget_two_phase_leftovers(dict(intent), kept, content) is False and len(kept) == 2
