"""The sandbox is as strict as Meta where socialcal's recovery paths depend on it: removed and unknown
edges answer code 100 "nonexisting field", heavy requests answer code 1 "reduce the amount of data"
when told to, and some metric values are objects."""

from __future__ import annotations

import requests

SANDBOX_SEED = 11
REDUCE = "Please reduce the amount of data you're asking for, then retry your request"


def get(srv, page, path, **params):
    return requests.get(f"{srv.graph_url}/{path}", params=params,
                        headers={"Authorization": f"OAuth {page.token}"}, timeout=5)


def test_removed_edge_promotable_posts_answers_nonexisting_field(srv):
    page = srv.add_page()
    answer = get(srv, page, f"{page.page_id}/promotable_posts", is_published="false")
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["code"] == 100 and error["type"] == "OAuthException"
    assert error["message"] == "(#100) Tried accessing nonexisting field (promotable_posts) on node type (Page)"


def test_unknown_edges_answer_the_same_on_every_node(srv):
    page = srv.add_page()
    post = requests.post(f"{srv.graph_url}/{page.page_id}/feed", data={"message": "x"},
                         headers={"Authorization": f"OAuth {page.token}"}, timeout=5).json()["id"]
    for path, node in ((f"{page.page_id}/no_such_edge", "Page"), (f"{post}/no_such_edge", "PagePost")):
        error = get(srv, page, path).json()["error"]
        assert (error["code"], error["message"]) == (
            100, f"(#100) Tried accessing nonexisting field (no_such_edge) on node type ({node})")


def test_listing_above_the_size_knob_answers_code_1_and_smaller_pages_pass(srv):
    page = srv.add_page()
    srv.set_faults(reduce_data_above=20)
    refused = get(srv, page, f"{page.page_id}/published_posts", limit=21)
    assert refused.status_code == 500
    assert refused.json()["error"]["code"] == 1 and refused.json()["error"]["message"] == REDUCE
    assert get(srv, page, f"{page.page_id}/published_posts", limit=20).status_code == 200
    assert srv.state.faults()["reduce_data_above"] == 20
    srv.set_faults(rules=[])  # other knobs leave it alone
    assert srv.state.faults()["reduce_data_above"] == 20
    srv.reset()
    assert srv.state.faults()["reduce_data_above"] is None


def test_size_knobs_over_the_admin_api(srv):
    answer = requests.post(f"{srv.base_url}/_sandbox/faults", json={"insights_reduce_data_above": 15}, timeout=5)
    assert answer.status_code == 200 and answer.json()["insights_reduce_data_above"] == 15
    page = srv.add_page()
    heavy = get(srv, page, f"{page.page_id}/insights", metric="page_media_view,page_follows", period="day",
                since="2025-03-01", until="2025-03-11")
    assert heavy.status_code == 500 and heavy.json()["error"]["message"] == REDUCE
    light = get(srv, page, f"{page.page_id}/insights", metric="page_media_view", period="day",
                since="2025-03-01", until="2025-03-11")
    assert light.status_code == 200


def test_some_metric_values_are_objects_like_metas_example(srv):
    page = srv.add_page()
    body = get(srv, page, f"{page.page_id}/insights", metric="page_video_views_by_uploaded_hosted,page_video_views",
               period="day", since="2025-03-01", until="2025-03-04").json()
    by_name = {item["name"]: item for item in body["data"]}
    values = by_name["page_video_views_by_uploaded_hosted"]["values"]
    assert len(values) == 3
    for point, plain in zip(values, by_name["page_video_views"]["values"]):
        value = point["value"]
        assert set(value) == {"page_uploaded", "page_uploaded_from_crossposts", "page_uploaded_from_shares",
                              "page_hosted_crosspost", "page_hosted_share", "page_owned"}
        assert value["page_owned"] == plain["value"]  # overlapping parts: not a breakdown to sum
        assert sum(value.values()) != plain["value"]


def _post(srv, page, path, **data):
    return requests.post(f"{srv.graph_url}/{path}", data=data, headers={"Authorization": f"OAuth {page.token}"},
                         timeout=5)


def _video(srv, page, **data):
    answer = requests.post(f"{srv.video_url}/{page.page_id}/videos", headers={"Authorization": f"OAuth {page.token}"},
                           data={"file_url": "https://cdn.example.com/v.mp4", "description": "Clip", **data}, timeout=5)
    return answer.json()["id"]


def test_the_video_node_refuses_page_post_parameters(srv):
    """SDK AdVideo.api_update takes published, description, scheduled_publish_time; is_published and
    message are Page-post parameters (PagePost.api_update) and a Video refuses them."""
    page = srv.add_page()
    video_id = _video(srv, page, published="false", unpublished_content_type="DRAFT")
    for name, value in (("is_published", "true"), ("message", "new")):
        error = _post(srv, page, video_id, **{name: value}).json()["error"]
        assert error["code"] == 100 and f"Param {name} is not a valid parameter on node type (Video)" in error["message"]
    [post] = srv.objects(page.page_id)["posts"]
    assert post["status"] == "draft" and post["message"] == "Clip"  # nothing changed
    assert _post(srv, page, video_id, description="Clip v2").json() == {"success": True}
    assert _post(srv, page, video_id, published="true").json() == {"success": True}
    [post] = srv.objects(page.page_id)["posts"]
    assert post["status"] == "published" and post["message"] == "Clip v2"


def test_the_photo_node_cannot_be_updated_only_its_post(srv):
    """SDK photo.py has no api_update: POST /{photo-id} is "Unsupported post request"; the photo's
    Page post (post_id from /photos) is where a caption edit or a new time goes."""
    page = srv.add_page()
    answer = _post(srv, page, f"{page.page_id}/photos", url="https://cdn.example.com/p.jpg", caption="Look",
                   published="false", scheduled_publish_time=str(int(srv.state.now()) + 3600)).json()
    for data in ({"message": "new"}, {"scheduled_publish_time": str(int(srv.state.now()) + 7200)}):
        error = _post(srv, page, answer["id"], **data).json()["error"]
        assert (error["code"], error["error_subcode"]) == (100, 33)
    assert _post(srv, page, answer["post_id"], message="new").json() == {"success": True}
    error = _post(srv, page, answer["post_id"], published="true").json()["error"]  # a Video parameter
    assert error["code"] == 100 and "node type (PagePost)" in error["message"]


def test_drafts_are_draft_posts_listed_nowhere(srv):
    page = srv.add_page()
    draft = _post(srv, page, f"{page.page_id}/feed", message="d", published="false",
                  unpublished_content_type="DRAFT").json()["id"]
    dark = _post(srv, page, f"{page.page_id}/feed", message="x", published="false").json()["id"]
    for edge in ("scheduled_posts", "published_posts", "posts", "feed"):
        assert get(srv, page, f"{page.page_id}/{edge}").json()["data"] == [], edge
    kinds = {p["id"]: p["unpublished_content_type"] for p in srv.objects(page.page_id)["posts"]}
    assert kinds == {draft: "DRAFT", dark: None}  # published=false alone is not a draft
    for data, fragment in (
        ({"published": "true", "unpublished_content_type": "DRAFT"}, "only for posts created with published=false"),
        ({"published": "false", "unpublished_content_type": "DRAFT",
          "scheduled_publish_time": str(int(srv.state.now()) + 3600)}, "A draft cannot have a scheduled_publish_time"),
        ({"published": "false", "unpublished_content_type": "DRAFTY"}, "must be one of"),
    ):
        error = _post(srv, page, f"{page.page_id}/feed", message="m", **data).json()["error"]
        assert error["code"] == 100 and fragment in error["message"], error


def test_a_scheduled_post_moves_to_published_posts_when_its_time_passes(srv):
    page = srv.add_page()
    when = int(srv.state.now()) + 900
    post_id = _post(srv, page, f"{page.page_id}/feed", message="later", published="false",
                    scheduled_publish_time=str(when)).json()["id"]
    video_id = _video(srv, page, published="false", scheduled_publish_time=str(when))
    video_post = get(srv, page, video_id, fields="post_id").json()["post_id"]
    assert {p["id"] for p in get(srv, page, f"{page.page_id}/scheduled_posts").json()["data"]} == {post_id, video_post}
    srv.advance_clock(901)
    assert get(srv, page, f"{page.page_id}/scheduled_posts").json()["data"] == []
    listed = get(srv, page, f"{page.page_id}/published_posts", fields="id,created_time").json()["data"]
    assert {p["id"] for p in listed} == {post_id, video_post}


def test_the_schedule_window_is_ten_minutes_to_seventy_five_days(srv):
    page = srv.add_page()
    now = int(srv.state.now())
    for ahead, ok in ((9 * 60, False), (11 * 60, True), (75 * 86400 - 60, True), (75 * 86400 + 60, False)):
        answer = _post(srv, page, f"{page.page_id}/feed", message=f"t{ahead}", published="false",
                       scheduled_publish_time=str(now + ahead))
        assert (answer.status_code == 200) == ok, (ahead, answer.text)
