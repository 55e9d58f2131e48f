"""socialcal's own GraphClient against the sandbox: the two halves of the Graph contract agree.

Each step is one the publishing and insights tasks take; if the client and the sandbox drift apart
(a field name, an edge, an error code), this file fails before the slower integration suite does.
"""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from graph.client import RECONCILE_POST_FIELDS, GraphClient
from graph.errors import (
    Ambiguous,
    AuthError,
    InvalidRequest,
    NotFound,
    PermissionDenied,
    RateLimited,
)

SANDBOX_SEED = 21


def client(srv, token: str, page_id: str | None = None) -> GraphClient:
    return GraphClient(token, base_url=srv.graph_url, video_url=srv.video_url, scope_id=page_id, read_timeout=5)


def test_publishing_primitives_and_reconciliation_listings(srv):
    page = srv.add_page()
    graph = client(srv, page.token, page.page_id)
    soon = int(time.time()) + 3600

    status_id = graph.create_feed_post(page.page_id, message="hello")
    draft_id = graph.create_feed_post(page.page_id, message="draft", draft=True)
    photos = [graph.upload_photo(page.page_id, "https://cdn.example.com/a.jpg", published=False, temporary=True)
              for _ in range(2)]
    assert all(photo.post_id is None for photo in photos)
    album_id = graph.create_feed_post(page.page_id, message="album", scheduled_at=soon,
                                      attached_media=[photo.id for photo in photos])
    single = graph.upload_photo(page.page_id, "https://cdn.example.com/b.jpg", caption="one", alt_text="alt")
    video_id = graph.upload_video(page.page_id, "https://cdn.example.com/v.mp4", description="clip",
                                  scheduled_at=soon + 60)
    video_post = graph.video_post(video_id)
    assert video_post.post_id and video_post.post_id != f"{page.page_id}_{video_id}"  # an id of its own
    assert video_post.permalink_url == f"https://www.facebook.com/{page.page_id}/videos/{video_id}/"
    reel = graph.start_reel(page.page_id)
    graph.upload_reel(reel.upload_url, "https://cdn.example.com/r.mp4")
    assert graph.video_status(reel.video_id)["video_status"] == "ready"
    graph.finish_reel(page.page_id, reel.video_id, video_state="DRAFT", description="reel")  # answers success only
    reel_post = graph.video_post(reel.video_id)
    assert reel_post.post_id and reel_post.permalink_url == f"https://www.facebook.com/reel/{reel.video_id}/"

    scheduled = {item["id"] for item in graph.list_scheduled_posts(page.page_id)}
    assert scheduled == {album_id, video_post.post_id}
    published = graph.list_published_posts(page.page_id)
    assert [item["id"] for item in published] == [single.post_id, status_id]  # drafts are in neither listing
    assert all("reactions" in item and "comments" in item for item in published)
    light = graph.list_published_posts(page.page_id, fields=RECONCILE_POST_FIELDS, since=soon - 3600 - 60)
    assert [set(item) for item in light] == [{"id", "message", "created_time"}] * 2

    graph.reschedule_post(album_id, soon + 7200)
    graph.update_message(album_id, "album v2")
    graph.update_video(video_id, description="clip v2", scheduled_at=soon + 7200)
    assert {p["id"]: p["message"] for p in srv.objects(page.page_id)["posts"]}[video_post.post_id] == "clip v2"
    assert graph.delete_post(status_id) is True
    assert graph.delete_post(status_id) is False  # already gone: NotFound, swallowed

    posts = srv.objects(page.page_id)["posts"]
    assert sorted(p["kind"] for p in posts) == ["album", "photo", "reel", "status", "status", "video"]
    drafts = [p for p in posts if p["status"] == "draft"]
    assert sorted(p["kind"] for p in drafts) == ["reel", "status"]
    assert all(p["unpublished_content_type"] == "DRAFT" for p in drafts)


def test_pages_insights_and_post_insights(srv):
    user_token = "EAAUcontractuser000000000000000000"
    pages = [srv.add_page(name=f"P{i}", user_token=user_token, anomaly=(i == 0)) for i in range(3)]
    managed = client(srv, user_token).list_managed_pages()
    assert [(m.id, m.access_token) for m in managed] == [(p.page_id, p.token) for p in pages]
    assert "CREATE_CONTENT" in managed[0].tasks

    page = pages[0]
    graph = client(srv, page.token, page.page_id)
    assert graph.verify_page(page.page_id).name == "P0"

    today = srv.state.today()
    series = graph.page_insights(page.page_id, ["page_media_view", "page_follows"],
                                 since=today - timedelta(days=120), until=today)  # two ranges
    values = series["page_media_view"].values
    assert len(values) == 120 and len({v["end_time"] for v in values}) == 120
    metric, day = srv.anomaly_for(page.page_id)
    spike = next(v["value"] for v in values if v["end_time"].startswith((day + timedelta(days=1)).isoformat()))
    assert spike == max(v["value"] for v in values)

    post_id = graph.create_feed_post(page.page_id, message="x")
    lifetime = graph.post_insights(post_id, ["post_media_view"])["post_media_view"]
    assert lifetime.period == "lifetime" and lifetime.values[0]["value"] > 0
    with pytest.raises(InvalidRequest):
        graph.page_insights(page.page_id, ["page_impressions"], since=today - timedelta(days=3), until=today)


def test_errors_map_to_the_right_classes(srv):
    page, other = srv.add_page(), srv.add_page()
    graph = client(srv, page.token, page.page_id)

    with pytest.raises(PermissionDenied):
        graph.create_feed_post(other.page_id, message="not mine")
    with pytest.raises(NotFound):
        graph.verify_page("999999")
    with pytest.raises(AuthError):
        client(srv, page.user_token).create_feed_post(page.page_id, message="user token")

    srv.set_faults(rules=[{"method": "POST", "path": "feed", "mode": "apply_then_fail", "count": 1}])
    with pytest.raises(Ambiguous):
        graph.create_feed_post(page.page_id, message="maybe")
    srv.set_faults(rules=[{"method": "POST", "path": "feed", "mode": "drop", "count": 1}])
    with pytest.raises(Ambiguous):
        graph.create_feed_post(page.page_id, message="dropped")
    assert [p["message"] for p in srv.objects(page.page_id)["posts"]] == ["maybe", "dropped"]

    srv.throttle_burst(page.page_id, calls=1, code=80001, regain_minutes=5)
    with pytest.raises(RateLimited) as caught:
        graph.verify_page(page.page_id)
    assert caught.value.retry_at is not None and caught.value.retry_at > time.time() + 240

    srv.revoke_token(page.token)
    with pytest.raises(AuthError):
        graph.verify_page(page.page_id)
