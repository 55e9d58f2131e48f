"""The sandbox Graph server's publishing routes, over real HTTP: every content type lands exactly once."""

from __future__ import annotations

import time

import pytest
import requests

SANDBOX_SEED = 11


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"OAuth {token}"}


def post(srv, path: str, token: str, **data):
    return requests.post(f"{srv.graph_url}/{path}", data=data, headers=auth(token), timeout=5)


def get(srv, path: str, token: str, **params):
    return requests.get(f"{srv.graph_url}/{path}", params=params, headers=auth(token), timeout=5)


def error_code(response) -> int:
    return response.json()["error"]["code"]


def upload_photo(srv, page, published="false", **extra) -> str:
    response = post(srv, f"{page.page_id}/photos", page.token, url="https://cdn.example.com/a.jpg",
                    published=published, **extra)
    assert response.status_code == 200, response.text
    return response.json()["id"]


def test_text_and_link_posts_land_once(srv):
    page = srv.add_page(name="Cafe")
    text = post(srv, f"{page.page_id}/feed", page.token, message="Hello")
    link = post(srv, f"{page.page_id}/feed", page.token, message="Read", link="https://example.com/x")
    assert text.status_code == link.status_code == 200
    ids = [text.json()["id"], link.json()["id"]]
    assert all(i.startswith(page.page_id + "_") for i in ids)

    posts = {p["id"]: p for p in srv.objects(page.page_id)["posts"]}
    assert sorted(posts) == sorted(ids)
    assert posts[ids[0]]["kind"] == "status" and posts[ids[0]]["status"] == "published"
    assert posts[ids[0]]["published"] is True
    assert posts[ids[1]]["kind"] == "link" and posts[ids[1]]["link"] == "https://example.com/x"


def test_json_body_and_bearer_token_are_accepted(srv):
    page = srv.add_page()
    response = requests.post(f"{srv.base_url}/v19.0/{page.page_id}/feed", json={"message": "json"},
                             headers={"Authorization": f"Bearer {page.token}"}, timeout=5)
    assert response.status_code == 200, response.text
    no_version = requests.post(f"{srv.base_url}/{page.page_id}/feed", data={"message": "bare"},
                               headers=auth(page.token), timeout=5)
    assert no_version.status_code == 200
    assert len(srv.objects(page.page_id)["posts"]) == 2


def test_photo_posts_published_scheduled_and_unpublished(srv):
    page = srv.add_page()
    live = post(srv, f"{page.page_id}/photos", page.token, url="https://cdn.example.com/1.jpg",
                caption="Look", alt_text_custom="a cat").json()
    assert set(live) == {"id", "post_id"} and live["post_id"] == f"{page.page_id}_{live['id']}"

    when = int(time.time()) + 3600
    scheduled = post(srv, f"{page.page_id}/photos", page.token, url="https://cdn.example.com/2.jpg",
                     published="false", scheduled_publish_time=str(when)).json()
    assert "post_id" in scheduled

    unpublished = post(srv, f"{page.page_id}/photos", page.token, url="https://cdn.example.com/3.jpg",
                       published="false").json()
    assert set(unpublished) == {"id"}  # no post for an unpublished photo, as on Graph

    objects = srv.objects(page.page_id)
    assert len(objects["photos"]) == 3
    statuses = sorted(p["status"] for p in objects["posts"])
    assert statuses == ["published", "scheduled"]
    photo = next(p for p in objects["photos"] if p["id"] == live["id"])
    assert photo["alt_text"] == "a cat" and photo["caption"] == "Look"


def test_scheduled_album_with_attached_media(srv):
    page = srv.add_page()
    photo_ids = [upload_photo(srv, page, temporary="true") for _ in range(3)]
    data = {"message": "Album", "published": "false", "unpublished_content_type": "SCHEDULED",
            "scheduled_publish_time": str(int(time.time()) + 7200)}
    data.update({f"attached_media[{i}]": f'{{"media_fbid":"{pid}"}}' for i, pid in enumerate(photo_ids)})
    response = requests.post(f"{srv.graph_url}/{page.page_id}/feed", data=data, headers=auth(page.token), timeout=5)
    assert response.status_code == 200, response.text
    post_id = response.json()["id"]

    objects = srv.objects(page.page_id)
    [album] = objects["posts"]
    assert album["id"] == post_id and album["kind"] == "album" and album["status"] == "scheduled"
    assert album["attached_media"] == photo_ids
    assert {p["attached_to"] for p in objects["photos"]} == {post_id}


def test_album_accepts_a_json_list_too(srv):
    page = srv.add_page()
    photo_ids = [upload_photo(srv, page) for _ in range(2)]
    response = requests.post(f"{srv.graph_url}/{page.page_id}/feed", headers=auth(page.token), timeout=5,
                             json={"message": "x", "attached_media": [{"media_fbid": p} for p in photo_ids]})
    assert response.status_code == 200, response.text
    assert srv.objects(page.page_id)["posts"][0]["kind"] == "album"


def test_video_post(srv):
    page = srv.add_page()
    response = requests.post(f"{srv.video_url}/{page.page_id}/videos", headers=auth(page.token), timeout=5,
                             data={"file_url": "https://cdn.example.com/v.mp4", "description": "Clip",
                                   "title": "T"})
    assert response.status_code == 200, response.text
    video_id = response.json()["id"]
    objects = srv.objects(page.page_id)
    assert [v["id"] for v in objects["videos"]] == [video_id]
    [video_post] = objects["posts"]
    assert video_post["kind"] == "video" and video_post["video_id"] == video_id
    status = get(srv, video_id, page.token, fields="status").json()["status"]
    assert status["video_status"] == "ready"
    shown = get(srv, video_id, page.token, fields="post_id,permalink_url").json()
    assert shown == {"post_id": video_post["id"], "permalink_url": f"/{page.page_id}/videos/{video_id}/"}
    assert video_post["id"] != f"{page.page_id}_{video_id}"  # a post id of its own, as on Meta


def test_reel_flow_start_upload_status_finish(srv):
    page = srv.add_page()
    start = post(srv, f"{page.page_id}/video_reels", page.token, upload_phase="start").json()
    video_id, upload_url = start["video_id"], start["upload_url"]
    assert upload_url == f"{srv.base_url}/rupload/v24.0/{video_id}"

    before = get(srv, video_id, page.token, fields="status").json()["status"]
    assert before["video_status"] != "ready"
    early = post(srv, f"{page.page_id}/video_reels", page.token, upload_phase="finish", video_id=video_id,
                 video_state="PUBLISHED")
    assert early.status_code == 400 and error_code(early) == 100

    uploaded = requests.post(upload_url, headers={"Authorization": f"OAuth {page.token}",
                                                  "file_url": "https://cdn.example.com/r.mp4"}, timeout=5)
    assert uploaded.json() == {"success": True}
    after = get(srv, video_id, page.token, fields="status").json()["status"]
    assert after["video_status"] == "ready"
    assert after["uploading_phase"]["status"] == after["processing_phase"]["status"] == "complete"

    when = int(time.time()) + 3 * 86400
    finish = post(srv, f"{page.page_id}/video_reels", page.token, upload_phase="finish", video_id=video_id,
                  video_state="SCHEDULED", description="Reel!", scheduled_publish_time=str(when))
    assert finish.status_code == 200 and finish.json() == {"success": True}  # Meta's whole answer
    again = post(srv, f"{page.page_id}/video_reels", page.token, upload_phase="finish", video_id=video_id,
                 video_state="SCHEDULED", description="Reel!", scheduled_publish_time=str(when))
    assert again.json() == {"success": True}

    [reel] = srv.objects(page.page_id)["posts"]  # repeating finish does not post twice
    assert get(srv, video_id, page.token, fields="post_id").json()["post_id"] == reel["id"]
    assert reel["kind"] == "reel" and reel["status"] == "scheduled" and reel["message"] == "Reel!"
    assert reel["scheduled_publish_time"] == when


@pytest.mark.parametrize("data, fragment", [
    ({}, "Missing message"),
    ({"message": "x", "published": "false", "scheduled_publish_time": "NOW+60"}, "10 minutes"),
    ({"message": "x", "published": "false", "scheduled_publish_time": "NOW+6912000"}, "75 days"),
    ({"message": "x", "scheduled_publish_time": "NOW+3600"}, "published post"),
    ({"message": "x", "published": "false", "unpublished_content_type": "SCHEDULED"}, "scheduled_publish_time"),
    # Enum values as the SDK spells them (page.py UnpublishedContentType), never case-folded.
    ({"message": "x", "published": "false", "unpublished_content_type": "draft"}, "must be one of"),
])
def test_feed_validation_errors(srv, data, fragment):
    page = srv.add_page()
    now = int(time.time())
    data = {k: (str(now + int(v[4:])) if isinstance(v, str) and v.startswith("NOW+") else v) for k, v in data.items()}
    response = requests.post(f"{srv.graph_url}/{page.page_id}/feed", data=data, headers=auth(page.token), timeout=5)
    assert response.status_code == 400
    body = response.json()["error"]
    assert body["code"] == 100 and fragment in body["message"], body
    assert {"message", "type", "code", "fbtrace_id", "is_transient"} <= set(body)
    assert srv.objects(page.page_id)["posts"] == []


def test_album_rules_max_ten_single_use_no_videos_same_page(srv):
    page, other = srv.add_page(), srv.add_page()

    def album(ids):
        data = {"message": "a", **{f"attached_media[{i}]": f'{{"media_fbid":"{m}"}}' for i, m in enumerate(ids)}}
        return requests.post(f"{srv.graph_url}/{page.page_id}/feed", data=data, headers=auth(page.token), timeout=5)

    eleven = [upload_photo(srv, page) for _ in range(11)]
    too_many = album(eleven)
    assert error_code(too_many) == 100 and "at most 10" in too_many.json()["error"]["message"]

    assert album(eleven[:2]).status_code == 200
    reused = album(eleven[1:3])
    assert error_code(reused) == 100 and "already attached" in reused.json()["error"]["message"]

    video_id = post(srv, f"{page.page_id}/videos", page.token, file_url="https://cdn.example.com/v.mp4",
                    published="false").json()["id"]
    with_video = album([eleven[3], video_id])
    assert error_code(with_video) == 100 and "video" in with_video.json()["error"]["message"]

    foreign = upload_photo(srv, other)
    assert error_code(album([eleven[4], foreign])) == 100

    published_photo = upload_photo(srv, page, published="true")
    assert error_code(album([eleven[5], published_photo])) == 100

    albums = [p for p in srv.objects(page.page_id)["posts"] if p["kind"] == "album"]
    assert len(albums) == 1


def test_media_urls_must_be_https(srv):
    page = srv.add_page()
    assert error_code(post(srv, f"{page.page_id}/photos", page.token, url="http://x.example/a.jpg")) == 100
    assert error_code(post(srv, f"{page.page_id}/photos", page.token)) == 324
    assert error_code(post(srv, f"{page.page_id}/videos", page.token, file_url="ftp://x/v.mp4")) == 100


def test_scheduled_and_published_listings_are_disjoint(srv):
    page = srv.add_page()
    soon = int(time.time()) + 3600
    scheduled_ids = [post(srv, f"{page.page_id}/feed", page.token, message=f"s{i}", published="false",
                          scheduled_publish_time=str(soon + i)).json()["id"] for i in range(2)]
    live_id = post(srv, f"{page.page_id}/feed", page.token, message="live").json()["id"]
    draft_id = post(srv, f"{page.page_id}/feed", page.token, message="draft", published="false",
                    unpublished_content_type="DRAFT").json()["id"]

    scheduled = get(srv, f"{page.page_id}/scheduled_posts", page.token,
                    fields="id,message,scheduled_publish_time,created_time").json()["data"]
    assert sorted(p["id"] for p in scheduled) == sorted(scheduled_ids)
    assert all(isinstance(p["scheduled_publish_time"], int) for p in scheduled)
    for edge in ("published_posts", "posts", "feed"):
        listed = get(srv, f"{page.page_id}/{edge}", page.token).json()["data"]
        assert [p["id"] for p in listed] == [live_id], edge

    # Publishing the draft (twice: Graph accepts the repeat) makes it appear once among published.
    for _ in range(2):
        assert post(srv, draft_id, page.token, is_published="true").json() == {"success": True}
    listed = get(srv, f"{page.page_id}/published_posts", page.token).json()["data"]
    assert [p["id"] for p in listed] == [draft_id, live_id]  # newest first


def test_update_reschedule_delete_and_unknown_ids(srv):
    page = srv.add_page()
    post_id = post(srv, f"{page.page_id}/feed", page.token, message="v1", published="false",
                   scheduled_publish_time=str(int(time.time()) + 3600)).json()["id"]
    assert post(srv, post_id, page.token, message="v2").json() == {"success": True}
    later = int(time.time()) + 2 * 86400
    assert post(srv, post_id, page.token, scheduled_publish_time=str(later)).json() == {"success": True}
    bad = post(srv, post_id, page.token, scheduled_publish_time=str(int(time.time()) + 30))
    assert error_code(bad) == 100
    shown = get(srv, post_id, page.token, fields="id,message,scheduled_publish_time,is_published").json()
    assert shown == {"id": post_id, "message": "v2", "scheduled_publish_time": later, "is_published": False}

    deleted = requests.delete(f"{srv.graph_url}/{post_id}", headers=auth(page.token), timeout=5)
    assert deleted.json() == {"success": True}
    assert get(srv, f"{page.page_id}/scheduled_posts", page.token).json()["data"] == []
    [record] = srv.objects(page.page_id)["posts"]
    assert record["deleted"] is True and record["message_edits"] == 1

    for response in (get(srv, post_id, page.token), post(srv, post_id, page.token, is_published="true"),
                     requests.delete(f"{srv.graph_url}/{page.page_id}_999", headers=auth(page.token), timeout=5)):
        error = response.json()["error"]
        assert (error["code"], error["error_subcode"]) == (100, 33)


def test_scheduled_posts_go_live_when_their_time_comes(srv):
    page = srv.add_page()
    post_id = post(srv, f"{page.page_id}/feed", page.token, message="later", published="false",
                   scheduled_publish_time=str(int(time.time()) + 900)).json()["id"]
    srv.advance_clock(1000)
    assert get(srv, f"{page.page_id}/scheduled_posts", page.token).json()["data"] == []
    assert [p["id"] for p in get(srv, f"{page.page_id}/published_posts", page.token).json()["data"]] == [post_id]


def test_published_posts_paging_and_since(srv):
    page = srv.add_page()
    ids = [post(srv, f"{page.page_id}/feed", page.token, message=f"m{i}").json()["id"] for i in range(5)]
    seen, url, params = [], f"{srv.graph_url}/{page.page_id}/published_posts", {"limit": 2}
    while url:
        body = requests.get(url, params=params, headers=auth(page.token), timeout=5).json()
        seen += [p["id"] for p in body["data"]]
        url, params = body.get("paging", {}).get("next"), None
        assert url is None or "access_token" not in url
    assert seen == ids[::-1]
    future = get(srv, f"{page.page_id}/published_posts", page.token, since=str(int(time.time()) + 60)).json()
    assert future["data"] == []


def test_engagement_expansion_is_deterministic_and_sometimes_omits_shares(srv):
    page = srv.add_page()
    for i in range(16):
        post(srv, f"{page.page_id}/feed", page.token, message=f"p{i}")
    fields = ("id,created_time,permalink_url,shares,reactions.summary(true).limit(0),"
              "comments.summary(true).limit(0)")
    first = get(srv, f"{page.page_id}/published_posts", page.token, fields=fields, limit=100).json()["data"]
    second = get(srv, f"{page.page_id}/published_posts", page.token, fields=fields, limit=100).json()["data"]
    assert first == second and len(first) == 16
    for item in first:
        assert item["reactions"]["data"] == [] and item["reactions"]["summary"]["total_count"] >= 0
        assert item["comments"]["summary"]["total_count"] >= 0
        assert item["permalink_url"].startswith("https://www.facebook.com/")
        assert "shares" not in item or item["shares"]["count"] > 0
    assert any("shares" not in item for item in first) and any("shares" in item for item in first)
