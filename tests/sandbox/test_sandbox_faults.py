"""The sandbox Graph server's fault injection, batch calls and CLI entry point, over real HTTP."""

from __future__ import annotations

import io
import json
import threading
import time

import pytest
import requests

from graph.sandbox import serve
from tests.support.waits import wait_for

SANDBOX_SEED = 9


def feed(srv, page, timeout=5.0, **data):
    return requests.post(f"{srv.graph_url}/{page.page_id}/feed", data={"message": "m", **data},
                         headers={"Authorization": f"OAuth {page.token}"}, timeout=timeout)


def test_error_mode_fails_without_applying_and_count_limits_it(srv):
    page = srv.add_page()
    srv.set_faults(rules=[{"method": "POST", "path": "feed", "rate": 1.0, "mode": "error", "code": 2, "count": 2}])
    first, second, third = feed(srv, page), feed(srv, page), feed(srv, page)
    assert (first.status_code, second.status_code, third.status_code) == (500, 500, 200)
    error = first.json()["error"]
    assert error["code"] == 2 and error["is_transient"] is True
    assert len(srv.objects(page.page_id)["posts"]) == 1
    assert srv.stats()["faults_fired"]["error"] == 2


def test_apply_then_fail_creates_the_post_yet_returns_500(srv):
    page = srv.add_page()
    srv.set_faults(rules=[{"method": "POST", "path": "feed", "mode": "apply_then_fail", "count": 1}])
    response = feed(srv, page, published="false", scheduled_publish_time=str(int(time.time()) + 3600))
    assert response.status_code == 500
    error = response.json()["error"]
    assert error["code"] == 1 and error["is_transient"] is True
    [created] = srv.objects(page.page_id)["posts"]
    listed = requests.get(f"{srv.graph_url}/{page.page_id}/scheduled_posts",
                          headers={"Authorization": f"OAuth {page.token}"}, timeout=5).json()["data"]
    assert [item["id"] for item in listed] == [created["id"]]  # what reconciliation will find


def test_apply_then_fail_does_not_fire_on_a_rejected_write(srv):
    page = srv.add_page()
    srv.set_faults(rules=[{"method": "POST", "path": "feed", "mode": "apply_then_fail", "count": 1}])
    rejected = requests.post(f"{srv.graph_url}/{page.page_id}/feed", data={},
                             headers={"Authorization": f"OAuth {page.token}"}, timeout=5)
    assert rejected.json()["error"]["code"] == 100
    assert feed(srv, page).status_code == 500  # the one allowed firing is still there


def test_drop_applies_then_closes_the_connection(srv):
    page = srv.add_page()
    srv.set_faults(rules=[{"method": "POST", "path": "photos", "mode": "drop", "count": 1}])
    with pytest.raises(requests.ConnectionError):
        requests.post(f"{srv.graph_url}/{page.page_id}/photos", data={"url": "https://cdn.example.com/a.jpg"},
                      headers={"Authorization": f"OAuth {page.token}"}, timeout=5)
    objects = srv.objects(page.page_id)
    assert len(objects["photos"]) == 1 and len(objects["posts"]) == 1
    assert feed(srv, page).status_code == 200  # the server is fine afterwards


def test_timeout_applies_then_answers_too_late(srv):
    page = srv.add_page()
    srv.set_faults(rules=[{"method": "POST", "path": "feed", "mode": "timeout", "seconds": 1.0, "count": 1}])
    with pytest.raises(requests.ReadTimeout):
        feed(srv, page, timeout=0.3)
    assert len(srv.objects(page.page_id)["posts"]) == 1


def test_rules_match_method_path_alternatives_and_page(srv):
    page, other = srv.add_page(), srv.add_page()
    srv.set_faults(rules=[{"method": "GET", "path": "published_posts|scheduled_posts", "page_id": page.page_id,
                           "mode": "error", "code": 1}])
    headers = {"Authorization": f"OAuth {page.token}"}
    assert feed(srv, page).status_code == 200
    assert requests.get(f"{srv.graph_url}/{page.page_id}/scheduled_posts", headers=headers,
                        timeout=5).status_code == 500
    assert requests.get(f"{srv.graph_url}/{other.page_id}/scheduled_posts", timeout=5,
                        headers={"Authorization": f"OAuth {other.token}"}).status_code == 200


def test_after_lets_the_first_matching_calls_through(srv):
    page = srv.add_page()
    srv.set_faults(rules=[{"method": "POST", "path": "feed", "mode": "error", "code": 2, "after": 2, "count": 1}])
    assert [feed(srv, page).status_code for _ in range(4)] == [200, 200, 500, 200]


def test_rate_is_seeded_and_burst_repeats(srv):
    page = srv.add_page()
    rule = {"method": "POST", "path": "feed", "rate": 0.5, "mode": "error"}

    def run() -> list[int]:
        srv.set_faults(rules=[rule])  # restarts the RNG from the seed
        return [feed(srv, page).status_code for _ in range(12)]

    first = run()
    assert first == run() and 200 in first and 500 in first

    srv.set_faults(rules=[{"path": "feed", "rate": 1.0, "burst": 3, "count": 3, "mode": "error"}])
    assert [feed(srv, page).status_code for _ in range(4)] == [500, 500, 500, 200]


class _RecordedPauses:
    """Stands in for the sandbox's ``stopping`` event and records each pause the server takes."""

    def __init__(self, event: threading.Event) -> None:
        self.event = event
        self.pauses: list[float | None] = []

    def wait(self, timeout: float | None = None) -> bool:
        self.pauses.append(timeout)
        return self.event.wait(timeout)

    def __getattr__(self, name: str):
        return getattr(self.event, name)


def test_latency_is_added_to_each_call(srv, monkeypatch):
    page = srv.add_page()
    recorder = _RecordedPauses(srv.state.stopping)
    monkeypatch.setattr(srv.state, "stopping", recorder)
    srv.set_faults(latency_ms=150)
    assert feed(srv, page).status_code == 200
    assert feed(srv, page).status_code == 200
    assert recorder.pauses == [0.15, 0.15]  # the server paused 150 ms before answering each call
    srv.set_faults(latency_ms=0)
    assert feed(srv, page).status_code == 200
    assert recorder.pauses == [0.15, 0.15]


def test_faults_over_the_admin_api(srv):
    page = srv.add_page()
    admin = f"{srv.base_url}/_sandbox/faults"
    bad = requests.post(admin, json={"rules": [{"mode": "explode"}]}, timeout=5)
    assert bad.status_code == 400
    set_ = requests.post(admin, json={"rules": [{"method": "POST", "path": "feed", "mode": "error", "code": 1}],
                                      "latency_ms": 0}, timeout=5).json()
    assert set_["rules"][0]["mode"] == "error"
    assert feed(srv, page).status_code == 500
    requests.post(admin, json={"rules": []}, timeout=5)
    assert feed(srv, page).status_code == 200


def test_batch_items_are_each_served_and_counted(srv):
    page = srv.add_page()
    batch = [
        {"method": "POST", "relative_url": f"v24.0/{page.page_id}/feed", "body": "message=from+batch"},
        {"method": "GET", "relative_url": f"{page.page_id}?fields=id,name"},
        {"method": "GET", "relative_url": f"{page.page_id}/insights?metric=page_impressions"},
    ]
    response = requests.post(f"{srv.graph_url}/", data={"batch": json.dumps(batch)},
                             headers={"Authorization": f"OAuth {page.token}"}, timeout=5)
    assert response.status_code == 200
    results = response.json()
    assert [item["code"] for item in results] == [200, 200, 400]
    assert json.loads(results[1]["body"]) == {"id": page.page_id, "name": page.name}
    assert json.loads(results[2]["body"])["error"]["code"] == 100
    assert srv.stats()["calls_by_token"][page.token] == 3
    assert len(srv.objects(page.page_id)["posts"]) == 1


def test_serve_prints_demo_pages_and_stops():
    out, stop = io.StringIO(), threading.Event()
    thread = threading.Thread(target=serve, kwargs={"port": 0, "demo_pages": 2, "seed": 4, "out": out,
                                                    "stop": stop}, daemon=True)
    thread.start()
    wait_for(lambda: out.getvalue().count("\n") >= 3, 5, interval=0.02, what="serve to print its pages")
    lines = out.getvalue().splitlines()
    base = lines[0].split()[4]
    pages = [json.loads(line) for line in lines[1:3]]
    assert pages[0]["user_token"] == pages[1]["user_token"]
    accounts = requests.get(f"{base}/v24.0/me/accounts",
                            headers={"Authorization": f"OAuth {pages[0]['user_token']}"}, timeout=5).json()
    assert [item["id"] for item in accounts["data"]] == [page["page_id"] for page in pages]
    stop.set()
    thread.join(timeout=5)
    assert not thread.is_alive()


def test_concurrent_callers_cannot_reuse_a_photo_or_overspend_the_budget(srv):
    from concurrent.futures import ThreadPoolExecutor

    page = srv.add_page()
    headers = {"Authorization": f"OAuth {page.token}"}
    photos = [requests.post(f"{srv.graph_url}/{page.page_id}/photos", headers=headers, timeout=5,
                            data={"url": "https://cdn.example.com/a.jpg", "published": "false"}).json()["id"]
              for _ in range(2)]
    album = {"message": "race", **{f"attached_media[{i}]": json.dumps({"media_fbid": p}) for i, p in enumerate(photos)}}

    def attach(_: int) -> int:
        return requests.post(f"{srv.graph_url}/{page.page_id}/feed", data=album, headers=headers, timeout=5).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(attach, range(16)))
    assert statuses.count(200) == 1 and statuses.count(400) == 15
    assert len(srv.objects(page.page_id)["posts"]) == 1

    srv.set_budget(calls_per_window=10, window_seconds=10**9)
    other = srv.add_page()
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(lambda _: feed(srv, other).status_code, range(25)))
    assert statuses.count(200) == 10
    assert len(srv.objects(other.page_id)["posts"]) == 10
    assert srv.stats()["over_budget_by_token"][other.token] == 15
