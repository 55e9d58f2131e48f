"""The sandbox Graph server's tokens, /me/accounts, call budget and throttles, over real HTTP."""

from __future__ import annotations

import json

import requests

HUGE_WINDOW = 10**9  # one fixed window for the whole test run: no boundary can split a test


SANDBOX_SEED = 5
SANDBOX_BUDGET = {"calls_per_window": 200, "window_seconds": HUGE_WINDOW, "app_calls_per_window": None,
                  "window_mode": "fixed"}
SANDBOX_ALLOW_TOKEN_IN_URL = True  # one test sends a token in the URL on purpose and counts it


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"OAuth {token}"}


def feed(srv, page, token=None, **data):
    return requests.post(f"{srv.graph_url}/{page.page_id}/feed", data={"message": "m", **data},
                         headers=auth(token or page.token), timeout=5)


def error(response) -> dict:
    return response.json()["error"]


def test_unknown_revoked_expired_and_missing_tokens(srv):
    page = srv.add_page()
    unknown = feed(srv, page, token="EAAnotarealtoken0000000000000")
    assert unknown.status_code == 400 and error(unknown)["code"] == 190

    other = srv.add_page()
    srv.revoke_token(other.token)
    revoked = feed(srv, other)
    assert (error(revoked)["code"], error(revoked)["error_subcode"]) == (190, 467)

    third = srv.add_page()
    srv.expire_token(third.token)
    assert error(feed(srv, third))["error_subcode"] == 463

    missing = requests.post(f"{srv.graph_url}/{page.page_id}/feed", data={"message": "m"}, timeout=5)
    assert error(missing)["code"] == 104
    assert srv.objects(page.page_id)["posts"] == []
    assert srv.stats()["invalid_token_calls"] == 4


def test_page_token_on_another_page_is_permission_error(srv):
    mine, theirs = srv.add_page(), srv.add_page()
    response = feed(srv, theirs, token=mine.token)
    assert response.status_code == 400 and error(response)["code"] == 200
    post_id = feed(srv, theirs).json()["id"]
    edit = requests.post(f"{srv.graph_url}/{post_id}", data={"message": "x"}, headers=auth(mine.token), timeout=5)
    assert error(edit)["code"] == 200
    assert len(srv.objects(theirs.page_id)["posts"]) == 1


def test_user_token_cannot_write_or_read_insights(srv):
    page = srv.add_page()
    write = feed(srv, page, token=page.user_token)
    assert (error(write)["code"], error(write)["error_subcode"]) == (190, 2069032)
    insights = requests.get(f"{srv.graph_url}/{page.page_id}/insights", params={"metric": "page_media_view"},
                            headers=auth(page.user_token), timeout=5)
    assert error(insights)["code"] == 190
    # ... but it can verify the Page and list the Pages it manages
    info = requests.get(f"{srv.graph_url}/{page.page_id}", params={"fields": "id,name"},
                        headers=auth(page.user_token), timeout=5)
    assert info.json() == {"id": page.page_id, "name": page.name}


def test_page_verify_and_unknown_page(srv):
    page = srv.add_page(name="Bakery")
    info = requests.get(f"{srv.graph_url}/{page.page_id}", params={"fields": "id,name"},
                        headers=auth(page.token), timeout=5)
    assert info.json() == {"id": page.page_id, "name": "Bakery"}
    missing = requests.get(f"{srv.graph_url}/987654321", params={"fields": "id,name"},
                           headers=auth(page.token), timeout=5)
    assert (error(missing)["code"], error(missing)["error_subcode"]) == (100, 33)


def test_me_accounts_paging_without_token_in_next_url(srv):
    user_token = "EAAUsharedusertoken1234567890abcdef"
    pages = [srv.add_page(name=f"P{i}", user_token=user_token) for i in range(5)]
    srv.add_page(name="someone else's")
    seen, url, params = [], f"{srv.graph_url}/me/accounts", {"limit": 2}
    while url:
        body = requests.get(url, params=params, headers=auth(user_token), timeout=5).json()
        assert len(body["data"]) <= 2
        seen += body["data"]
        url, params = body["paging"].get("next"), None
        assert url is None or (user_token not in url and "access_token" not in url)
    assert [item["id"] for item in seen] == [page.page_id for page in pages]
    assert [item["access_token"] for item in seen] == [page.token for page in pages]
    assert all("CREATE_CONTENT" in item["tasks"] and item["name"] for item in seen)
    assert srv.stats()["token_in_url_calls"] == 0

    with_page_token = requests.get(f"{srv.graph_url}/me/accounts", headers=auth(pages[0].token), timeout=5)
    assert error(with_page_token)["code"] == 100


def test_access_token_in_url_still_works_but_is_counted(srv):
    page = srv.add_page()
    response = requests.get(f"{srv.graph_url}/{page.page_id}", params={"access_token": page.token}, timeout=5)
    assert response.status_code == 200
    assert srv.stats()["token_in_url_calls"] == 1


def test_usage_headers_and_80001_after_budget(srv):
    srv.set_budget(calls_per_window=4)
    page = srv.add_page()
    seen = []
    for _ in range(4):
        response = feed(srv, page)
        assert response.status_code == 200
        seen.append(json.loads(response.headers["X-Business-Use-Case-Usage"])[page.page_id][0])
        assert json.loads(response.headers["X-App-Usage"])["call_count"] >= 0
        assert "call_count" in json.loads(response.headers["X-Page-Usage"])
    assert [entry["call_count"] for entry in seen] == [25, 50, 75, 100]
    assert seen[0]["type"] == "pages" and seen[0]["estimated_time_to_regain_access"] == 0
    assert seen[-1]["estimated_time_to_regain_access"] >= 1  # at 100 %: stop and wait
    assert srv.stats()["over_budget_calls"] == 0

    throttled = feed(srv, page)
    assert throttled.status_code == 400 and error(throttled)["code"] == 80001
    buc = json.loads(throttled.headers["X-Business-Use-Case-Usage"])[page.page_id][0]
    assert buc["call_count"] > 100 and buc["estimated_time_to_regain_access"] >= 1
    feed(srv, page)  # calling while throttled still counts
    stats = srv.stats()
    assert stats["over_budget_calls"] == 2 and stats["over_budget_by_token"] == {page.token: 2}
    assert stats["throttled_by_code"] == {"80001": 2}
    assert stats["calls_by_token"][page.token] == 6
    assert len(srv.objects(page.page_id)["posts"]) == 4

    other = srv.add_page()  # budgets are per token
    assert feed(srv, other).status_code == 200

    srv.advance_clock(HUGE_WINDOW)  # next window: access is back
    assert feed(srv, page).status_code == 200


def test_rolling_window_budget(srv):
    srv.set_budget(calls_per_window=2, window_seconds=600, window_mode="rolling")
    page = srv.add_page()
    assert [feed(srv, page).status_code for _ in range(3)] == [200, 200, 400]
    srv.advance_clock(601)
    assert feed(srv, page).status_code == 200


def test_user_token_over_budget_gets_17_or_32(srv):
    srv.set_budget(calls_per_window=1)
    page = srv.add_page()
    accounts = f"{srv.graph_url}/me/accounts"
    assert requests.get(accounts, headers=auth(page.user_token), timeout=5).status_code == 200
    assert error(requests.get(accounts, headers=auth(page.user_token), timeout=5))["code"] == 17
    info = requests.get(f"{srv.graph_url}/{page.page_id}", headers=auth(page.user_token), timeout=5)
    assert error(info)["code"] == 32


def test_app_budget_gives_code_4_with_403(srv):
    srv.set_budget(app_calls_per_window=3)
    pages = [srv.add_page() for _ in range(2)]
    statuses = [feed(srv, pages[i % 2]).status_code for i in range(4)]
    assert statuses == [200, 200, 200, 403]
    last = feed(srv, pages[0])
    assert error(last)["code"] == 4 and error(last)["is_transient"] is True
    assert json.loads(last.headers["X-App-Usage"])["call_count"] > 100
    assert srv.stats()["over_budget_calls"] == 2


def test_throttle_burst_fails_next_calls_with_regain_time(srv):
    page, other = srv.add_page(), srv.add_page()
    srv.throttle_burst(page.page_id, calls=2, code=80001, regain_minutes=7)
    assert feed(srv, other).status_code == 200  # another Page is not affected
    for _ in range(2):
        response = feed(srv, page)
        assert error(response)["code"] == 80001
        buc = json.loads(response.headers["X-Business-Use-Case-Usage"])[page.page_id][0]
        assert buc["estimated_time_to_regain_access"] == 7
    assert feed(srv, page).status_code == 200
    stats = srv.stats()
    assert stats["burst_throttled"] == 2 and stats["over_budget_calls"] == 0
    assert stats["calls_during_backoff"] == 2  # the second burst call and the one after it

    srv.throttle_burst(None, calls=1, code=4)
    response = feed(srv, other)
    assert response.status_code == 403 and error(response)["code"] == 4


def test_admin_api_over_http(srv):
    admin = f"{srv.base_url}/_sandbox"
    created = requests.post(f"{admin}/pages", json={"page_id": "4242", "name": "Admin Page",
                                                    "token": "EAASadmintoken0000000000000000",
                                                    "user_token": "EAAUadminuser0000000000000000",
                                                    "anomaly": False}, timeout=5).json()
    assert created["page_id"] == "4242" and created["anomaly"] is None
    assert "4242" in [p["page_id"] for p in requests.get(f"{admin}/pages", timeout=5).json()["data"]]
    duplicate = requests.post(f"{admin}/pages", json={"page_id": "4242"}, timeout=5)
    assert duplicate.status_code == 400

    page = srv.state.page("4242")
    assert requests.post(f"{admin}/budget", json={"calls_per_window": 1}, timeout=5).json()["calls_per_window"] == 1
    assert feed(srv, page).status_code == 200 and error(feed(srv, page))["code"] == 80001
    assert requests.get(f"{admin}/stats", timeout=5).json()["over_budget_calls"] == 1
    requests.post(f"{admin}/budget", json={"calls_per_window": 100}, timeout=5)

    assert requests.post(f"{admin}/throttle", json={"page_id": "4242", "calls": 1, "code": 32}, timeout=5).ok
    assert error(feed(srv, page))["code"] == 32

    assert requests.post(f"{admin}/revoke", json={"token": page.token}, timeout=5).json() == {"success": True}
    assert error(feed(srv, page))["code"] == 190
    assert requests.post(f"{admin}/revoke", json={"token": "nope"}, timeout=5).status_code == 404

    objects = requests.get(f"{admin}/pages/4242/objects", timeout=5).json()
    assert len(objects["posts"]) == 1 and objects["photos"] == [] and objects["videos"] == []
    assert requests.post(f"{admin}/reset", timeout=5).json() == {"success": True}
    assert requests.get(f"{admin}/pages/4242/objects", timeout=5).json()["posts"] == []
    assert requests.get(f"{admin}/stats", timeout=5).json()["total_calls"] == 0
    assert feed(srv, page).status_code == 200  # reset restores revoked tokens
    assert requests.get(f"{admin}/health", timeout=5).json() == {"ok": True}
    assert requests.get(f"{admin}/pages/999/objects", timeout=5).status_code == 404
