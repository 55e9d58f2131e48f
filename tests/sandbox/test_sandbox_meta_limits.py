"""The sandbox counts like Meta: per Page (every token of a Page shares one limit, scaled by its engaged
users), 30 API-published Reels per Page per window, and Meta's OAuth endpoints for token lifecycles."""

from __future__ import annotations

import pytest
import requests

SANDBOX_SEED = 12
APP_ID = "1000000000001"
SANDBOX_BUDGET = {"calls_per_window": 5, "window_seconds": 10**9, "app_calls_per_window": None,
                  "window_mode": "rolling"}


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"OAuth {token}"}


def get_page(srv, page_id: str, token: str) -> requests.Response:
    return requests.get(f"{srv.graph_url}/{page_id}", params={"fields": "id"}, headers=auth(token), timeout=5)


def test_every_token_of_a_page_draws_on_one_limit(srv):
    page = srv.add_page()
    second = srv.add_page_token(page.page_id)
    other = srv.add_page()
    codes = [get_page(srv, page.page_id, token).status_code for token in [page.token, second] * 3]
    assert codes == [200] * 5 + [400]  # 6 calls with two tokens: the 6th is over the Page's 5
    assert get_page(srv, page.page_id, second).json()["error"]["code"] == 80001
    assert get_page(srv, other.page_id, other.token).status_code == 200  # another Page is untouched
    stats = srv.stats()
    assert stats["over_budget_by_page"] == {page.page_id: 2}
    assert stats["peak_window_calls_by_page"][page.page_id] == 7


def test_engaged_users_scale_a_pages_limit(srv):
    page = srv.add_page()
    srv.set_engaged_users(page.page_id, 2)
    codes = [get_page(srv, page.page_id, page.token).status_code for _ in range(11)]
    assert codes == [200] * 10 + [400]
    response = requests.post(f"{srv.base_url}/_sandbox/pages/{page.page_id}/engaged_users",
                             json={"engaged_users": 0}, timeout=5)
    assert response.status_code == 400


def reel(srv, page, state="PUBLISHED") -> tuple[int, dict]:
    start = requests.post(f"{srv.graph_url}/{page.page_id}/video_reels", data={"upload_phase": "start"},
                          headers=auth(page.token), timeout=5)
    if start.status_code != 200:
        return start.status_code, start.json()
    body = start.json()
    requests.post(body["upload_url"], headers={**auth(page.token), "file_url": "https://cdn.example.com/r.mp4"},
                  timeout=5).raise_for_status()
    finish = requests.post(f"{srv.graph_url}/{page.page_id}/video_reels",
                           data={"upload_phase": "finish", "video_id": body["video_id"], "video_state": state},
                           headers=auth(page.token), timeout=5)
    return finish.status_code, finish.json()


def test_thirty_reels_per_page_per_window(srv):
    srv.set_budget(calls_per_window=10_000, reels_per_window=3, reels_window_seconds=3600)
    page, other = srv.add_page(), srv.add_page()
    assert [reel(srv, page)[0] for _ in range(3)] == [200, 200, 200]
    status, body = reel(srv, page)
    assert status == 400 and body["error"]["code"] == 9 and "reels" in body["error"]["message"]
    assert reel(srv, other)[0] == 200
    # A Reel uploaded before the limit was reached is refused at finish: it stays an unpublished video.
    srv.advance_clock(3601)
    start = requests.post(f"{srv.graph_url}/{page.page_id}/video_reels", data={"upload_phase": "start"},
                          headers=auth(page.token), timeout=5).json()
    requests.post(start["upload_url"], headers={**auth(page.token), "file_url": "https://cdn.example.com/r.mp4"},
                  timeout=5).raise_for_status()
    assert [reel(srv, page)[0] for _ in range(3)] == [200, 200, 200]
    late = requests.post(f"{srv.graph_url}/{page.page_id}/video_reels",
                         data={"upload_phase": "finish", "video_id": start["video_id"], "video_state": "PUBLISHED"},
                         headers=auth(page.token), timeout=5)
    assert late.json()["error"]["code"] == 9
    assert srv.stats()["reels_refused"] == 2
    assert srv.state.budget()["reels_per_window"] == 3


def test_fb_exchange_token_and_debug_token_with_the_app_token(app_srv):
    srv, secret = app_srv
    page = srv.add_page()
    app_token = f"{APP_ID}|{secret}"
    exchanged = requests.post(f"{srv.graph_url}/oauth/access_token", data={
        "grant_type": "fb_exchange_token", "client_id": APP_ID, "client_secret": secret,
        "fb_exchange_token": page.user_token}, timeout=5)
    assert exchanged.status_code == 200, exchanged.text
    long_lived = exchanged.json()["access_token"]
    assert exchanged.json()["expires_in"] > 50 * 86400 and long_lived != page.user_token

    def debug(token: str) -> dict:
        return requests.post(f"{srv.graph_url}/debug_token", data={"input_token": token},
                             headers=auth(app_token), timeout=5).json()["data"]

    short, long = debug(page.user_token), debug(long_lived)
    assert short["is_valid"] and long["is_valid"]
    assert long["expires_at"] - short["expires_at"] > 50 * 86400
    assert debug(page.token)["expires_at"] == 0 and "pages_manage_posts" in debug(page.token)["scopes"]
    # Listing Pages with the long-lived token gives the Page tokens.
    accounts = requests.get(f"{srv.graph_url}/me/accounts", headers=auth(long_lived), timeout=5).json()
    assert [item["id"] for item in accounts["data"]] == [page.page_id]

    srv.revoke_token(page.token)
    revoked = debug(page.token)
    assert revoked["is_valid"] is False and revoked["error"]["code"] == 190

    srv.set_token(long_lived, scopes=["pages_show_list"], expires_at=12345)
    assert debug(long_lived)["scopes"] == ["pages_show_list"] and debug(long_lived)["expires_at"] == 12345
    wrong = requests.post(f"{srv.graph_url}/oauth/access_token", data={
        "grant_type": "fb_exchange_token", "client_id": APP_ID, "client_secret": "nope",
        "fb_exchange_token": page.user_token}, timeout=5)
    assert wrong.status_code == 400
    assert srv.stats()["token_in_url_calls"] == 0 and srv.stats()["tokens_exchanged"] == 1


def test_revoke_over_the_admin_api(srv):
    page = srv.add_page()
    assert requests.post(f"{srv.base_url}/_sandbox/revoke", json={"token": page.token}, timeout=5).status_code == 200
    assert get_page(srv, page.page_id, page.token).json()["error"]["code"] == 190


@pytest.mark.parametrize("state", ["published", "Draft", "LIVE"])
def test_a_reel_finish_takes_video_state_only_as_the_sdk_spells_it(srv, state):
    page = srv.add_page()
    status, body = reel(srv, page, state)
    assert status == 400 and "video_state must be one of" in body["error"]["message"]
    assert srv.objects(page.page_id)["posts"] == []
