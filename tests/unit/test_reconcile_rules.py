"""Reconciliation's plain rules at their edges: where to look and from when, which candidate is ours,
which ids are taken, a video's own id, the two-phase leftovers. Written against the mutants a mutation
run of tasks/domain/reconcile.py left alive (bench/mutation.py)."""

from __future__ import annotations

import pytest

from models import SocialPost
from models.db import transaction
from tasks.domain.reconcile import (
    CREATED_SLACK_SECONDS,
    PUBLISHED_PAGES,
    SCHEDULED_SKEW_SECONDS,
    created_after,
    find,
    forget_two_phase_leftovers,
    match,
    normalised,
    places_to_look,
    taken_ids,
    video_of,
)
from tests.support.factories import connect, make_tenant
from tests.support.pipeline import write_post

SENT = 1_900_000_000.0
WHEN = "2030-03-17T17:46:40+0000"  # SENT


@pytest.mark.parametrize(("value", "threshold", "after"), [
    (None, SENT, True), ("not a time", SENT, True), (WHEN, SENT, True), (WHEN, SENT + 1, False)])
def test_created_after_is_inclusive_and_lets_an_unreadable_time_through(value, threshold, after):
    assert created_after(value, threshold) is after


def test_normalised_folds_whitespace_and_reads_nothing_as_empty():
    assert normalised("  a \n\t b  ") == "a b" and normalised(None) == "" and normalised(5) == ""


@pytest.mark.parametrize(("spt", "now", "sent", "places"), [
    # sent just now (the lease holds): only the time decides, inclusive at the skew.
    (SENT + 1000, SENT + 1000 - SCHEDULED_SKEW_SECONDS, SENT + 1000 - SCHEDULED_SKEW_SECONDS,
     ("scheduled_posts", "published_posts")),
    (SENT + 1000, SENT + 1000 - SCHEDULED_SKEW_SECONDS - 1, SENT + 1000 - SCHEDULED_SKEW_SECONDS - 1,
     ("scheduled_posts",)),
    (None, SENT, SENT, ("scheduled_posts", "published_posts")),
])
def test_a_scheduled_post_is_looked_for_among_published_ones_once_its_time_may_have_passed(spt, now, sent, places):
    assert places_to_look("scheduled", spt, now=now, sent_at=sent, lease_seconds=60) == places


def test_a_scheduled_post_is_looked_for_among_published_ones_once_the_lease_ran_out():
    far = SENT + 10_000
    assert places_to_look("scheduled", far, now=SENT + 60, sent_at=SENT, lease_seconds=60) == ("scheduled_posts",)
    assert places_to_look("scheduled", far, now=SENT + 60.5, sent_at=SENT, lease_seconds=60) == (
        "scheduled_posts", "published_posts")
    assert places_to_look("live", None, now=SENT, sent_at=SENT, lease_seconds=60) == ("published_posts",)
    assert places_to_look("draft", None, now=SENT, sent_at=SENT, lease_seconds=60) == ()


def test_match_skips_every_candidate_that_is_not_ours_and_takes_the_first_that_is():
    candidates = [{"id": "1_taken", "message": "hi"}, {"id": "1_other", "message": "bye"},
                  {"id": "1_ours", "message": " hi ", "created_time": WHEN}]
    assert match(candidates, message="hi", scheduled_publish_time=None, sent_at=SENT,
                 taken={"1_taken"}) == "1_ours"


class _Client:
    def __init__(self, scheduled=(), published=(), videos=()):
        self.scheduled, self.published, self.videos, self.calls = list(scheduled), list(published), list(videos), []

    def list_scheduled_posts(self, page_id):
        self.calls.append(("scheduled", page_id))
        return self.scheduled

    def list_published_posts(self, page_id, *, since, max_pages, fields):
        self.calls.append(("published", page_id, since, max_pages))
        return self.published

    def list_videos(self, page_id, *, since):
        self.calls.append(("videos", page_id, since))
        return self.videos


def test_find_reads_both_listings_from_before_the_call_and_counts_what_it_read():
    spt = int(SENT) + 5000
    client = _Client(scheduled=[{"id": "1_a", "message": "x", "scheduled_publish_time": spt + 60}],
                     published=[{"id": "1_b", "message": "x", "scheduled_publish_time": spt + 60},
                                {"id": "1_c", "message": "x", "scheduled_publish_time": spt}])
    found, seen = find(client, "p1", ("scheduled_posts", "published_posts"), message="x",
                       scheduled_publish_time=spt, sent_at=SENT, taken=set())
    assert (found.post_id, found.where, seen) == ("1_c", "published_posts", 3)
    assert client.calls == [("scheduled", "p1"),
                            ("published", "p1", int(SENT - CREATED_SLACK_SECONDS), PUBLISHED_PAGES)]


def test_a_video_is_found_by_its_page_post_in_videos_since_the_call():
    client = _Client(videos=[{"id": "v1", "post_id": "p1_9"}, {"id": "v2", "post_id": "p1_7"}])
    assert video_of(client, "p1", "p1_7", sent_at=SENT) == "v2"
    assert video_of(client, "p1", "p1_8", sent_at=SENT) is None
    assert client.calls[0] == ("videos", "p1", int(SENT - CREATED_SLACK_SECONDS))


@pytest.mark.parametrize("key", ["post_id", "video_id", "photo_id", "photos"])
def test_two_phase_leftovers_of_a_live_post_are_forgotten(key):
    intent, ids = {"mode": "live"}, {key: "x", "kept": "y"}
    assert forget_two_phase_leftovers(intent, ids, "photo") is True
    assert ids == {"kept": "y"} and intent["phases"] == 1
    assert forget_two_phase_leftovers(intent, ids, "photo") is False
    assert forget_two_phase_leftovers({"mode": "live"}, {}, "photo") is False  # nothing left to forget


def test_a_candidate_with_an_unreadable_time_is_skipped_not_the_end_of_the_search():
    spt = int(SENT) + 5000
    candidates = [{"id": "1_x", "message": "x", "scheduled_publish_time": "soon"},
                  {"id": "1_y", "message": "x", "scheduled_publish_time": spt}]
    assert match(candidates, message="x", scheduled_publish_time=spt, sent_at=SENT, taken=set()) == "1_y"


def test_taken_ids_are_the_other_posts_of_this_page_only(db, monkeypatch):
    monkeypatch.setattr("tasks.domain.approval.enqueue", lambda *a, **k: None)
    tenant_id = make_tenant()
    page = connect(tenant_id, "p1", "EAAtokenvalue000000000000000000001")
    other_page = connect(tenant_id, "p2", "EAAtokenvalue000000000000000000002")
    ids = {}
    for name, integration, external in [("mine", page, "p1_1"), ("sibling", page, "p1_2"), ("none", page, None),
                                        ("elsewhere", other_page, "p2_3")]:
        post_id = write_post(tenant_id, name, integration_id=integration)
        with transaction() as s:
            s.get(SocialPost, post_id).external_id = external
        ids[name] = post_id
    assert taken_ids(page, ids["mine"]) == {"p1_2"}
