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
