"""The Graph client against the sandbox over real HTTP: every content type lands exactly once."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from graph.client import GraphClient
from graph.errors import AuthError, InvalidRequest, PermissionDenied

pytestmark = pytest.mark.integration


@pytest.fixture
def page_client(sandbox_server):
    sandbox_server.reset()
    page = sandbox_server.add_page(name="Client Cafe")
    client = GraphClient(page.token, base_url=sandbox_server.graph_url, video_url=sandbox_server.video_url)
    yield page, client
    client.close()


def test_every_content_type_is_published_and_found_once(sandbox_server, page_client):
    page, client = page_client
    when = datetime.now(timezone.utc) + timedelta(days=3)
    text_id = client.create_feed_post(page.page_id, message="text", published=False, scheduled_at=when)
    link_id = client.create_feed_post(page.page_id, message="link", link="https://example.com", draft=True)
    photo = client.upload_photo(page.page_id, "https://cdn.example/p.jpg", caption="photo", alt_text="a cup",
                                published=False, scheduled_at=when)
    album_photos = [client.upload_photo(page.page_id, f"https://cdn.example/{i}.jpg", published=False,
                                        temporary=True).id for i in range(3)]
    album_id = client.create_feed_post(page.page_id, message="album", published=False, scheduled_at=when,
                                       attached_media=album_photos)
    video_id = client.upload_video(page.page_id, "https://cdn.example/v.mp4", description="video", published=False,
                                   scheduled_at=when)
    reel = client.start_reel(page.page_id)
    client.upload_reel(reel.upload_url, "https://cdn.example/r.mp4")
    assert client.video_status(reel.video_id)
    client.finish_reel(page.page_id, reel.video_id, video_state="SCHEDULED", description="reel", scheduled_at=when)
    live_id = client.create_feed_post(page.page_id, message="live")  # one call: live posts are single-phase

    posts = [p for p in sandbox_server.objects(page.page_id)["posts"] if not p["deleted"]]
    by_message = {}
    for post in posts:
        by_message.setdefault(post["message"], []).append(post)
    assert sorted(by_message) == sorted(["text", "link", "photo", "album", "video", "reel", "live"])
    assert all(len(v) == 1 for v in by_message.values()), by_message
    assert by_message["album"][0]["attached_media"] == album_photos
    assert by_message["text"][0]["scheduled_publish_time"] == int(when.timestamp())
    assert by_message["live"][0]["status"] == "published"
    assert by_message["link"][0]["status"] == "draft" and by_message["link"][0]["unpublished_content_type"] == "DRAFT"
    assert by_message["live"][0]["id"] == live_id and link_id
    video_post, reel_post = client.video_post(video_id), client.video_post(reel.video_id)
    assert {by_message["video"][0]["id"], by_message["reel"][0]["id"]} == {video_post.post_id, reel_post.post_id}
    assert {p["id"] for p in client.list_scheduled_posts(page.page_id)} >= {text_id, album_id}
    assert video_id and photo.id


def test_reschedule_update_delete_and_listings(sandbox_server, page_client):
    page, client = page_client
    when = datetime.now(timezone.utc) + timedelta(days=3)
    post_id = client.create_feed_post(page.page_id, message="first", published=False, scheduled_at=when)
    client.reschedule_post(post_id, when + timedelta(days=1))
    client.update_message(post_id, "second")
    scheduled = client.list_scheduled_posts(page.page_id)
    assert scheduled[0]["message"] == "second"
    assert int(scheduled[0]["scheduled_publish_time"]) == int((when + timedelta(days=1)).timestamp())
    assert client.delete_post(post_id) is True
    assert client.delete_post(post_id) is False  # already gone counts as deleted
    published = client.create_feed_post(page.page_id, message="out there")
    listed = client.list_published_posts(page.page_id)
    assert [p["id"] for p in listed] == [published]
    assert "reactions" in listed[0] and "comments" in listed[0]


def test_sandbox_enforces_what_facebook_enforces(sandbox_server, page_client):
    page, client = page_client
    other = sandbox_server.add_page(name="Other")
    import requests

    empty = requests.post(f"{sandbox_server.graph_url}/{page.page_id}/feed", data={"published": "false"},
                          headers={"Authorization": f"OAuth {page.token}"}, timeout=5)
    assert empty.json()["error"]["code"] == 100  # message or link required
    with pytest.raises(InvalidRequest, match="schedul"):
        client.create_feed_post(page.page_id, message="too soon", published=False,
                                scheduled_at=datetime.now(timezone.utc) + timedelta(minutes=3))
    with pytest.raises(PermissionDenied):
        client.create_feed_post(other.page_id, message="wrong page")
    sandbox_server.revoke_token(page.token)
    with pytest.raises(AuthError):
        client.verify_page(page.page_id)


def test_insights_and_managed_pages(sandbox_server):
    sandbox_server.reset()
    first = sandbox_server.add_page(name="U1", user_token="EAAUsertokenvalue0000000000001")
    second = sandbox_server.add_page(name="U2", user_token="EAAUsertokenvalue0000000000001")
    user = GraphClient("EAAUsertokenvalue0000000000001", base_url=sandbox_server.graph_url)
    pages = {p.id: p for p in user.list_managed_pages()}
    assert set(pages) == {first.page_id, second.page_id}
    assert pages[first.page_id].access_token == first.token
    client = GraphClient(first.token, base_url=sandbox_server.graph_url)
    until = date.today()
    series = client.page_insights(first.page_id, ["page_media_view", "page_follows"], since=until - timedelta(days=120),
                                  until=until)
    assert set(series) == {"page_media_view", "page_follows"}
    assert len(series["page_media_view"].values) >= 119
    assert client.calls <= 3  # one request per <=90-day range, all metrics together
