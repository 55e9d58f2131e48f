"""Token lifecycle requests (graph.tokens): no token or secret ever in a URL, Meta's answers read safely,
and the rules that refuse a token (TokenInfo.problem)."""

from __future__ import annotations

from urllib.parse import parse_qs

import pytest
import responses

from graph.errors import AuthError, Transient
from graph.tokens import TokenClient, TokenInfo, app_access_token

BASE = "https://graph.facebook.com/v24.0"
APP_ID, APP_SECRET = "1234567890", "app-secret-value-123"
SHORT = "EAAShortLivedUserToken0000000001"
PAGE_TOKEN = "EAAPageTokenForDebugging00000002"
NOW = 1_900_000_000.0


@pytest.fixture
def rsps():
    with responses.RequestsMock() as mock:
        yield mock


@pytest.fixture
def app():
    return TokenClient(app_access_token(APP_ID, APP_SECRET), base_url=BASE)


def _no_secret_in_url(call) -> None:
    for secret in (APP_SECRET, SHORT, PAGE_TOKEN, app_access_token(APP_ID, APP_SECRET)):
        assert secret not in call.request.url


def test_the_exchange_sends_every_secret_in_the_post_body(rsps, app):
    rsps.post(f"{BASE}/oauth/access_token", json={"access_token": "EAALongLived", "token_type": "bearer",
                                                  "expires_in": 5183944})
    token = app.exchange_for_long_lived(app_id=APP_ID, app_secret=APP_SECRET, short_lived=SHORT)
    assert token.access_token == "EAALongLived" and token.expires_in == 5183944
    [call] = rsps.calls
    _no_secret_in_url(call)
    body = parse_qs(call.request.body)
    assert body == {"grant_type": ["fb_exchange_token"], "client_id": [APP_ID], "client_secret": [APP_SECRET],
                    "fb_exchange_token": [SHORT]}
    assert call.request.headers["Authorization"] == f"OAuth {APP_ID}|{APP_SECRET}"
    assert "EAALongLived" not in repr(token)


def test_debug_token_reads_expiry_scopes_and_errors(rsps, app):
    rsps.post(f"{BASE}/debug_token", json={"data": {
        "app_id": APP_ID, "type": "PAGE", "is_valid": True, "expires_at": 0,
        "data_access_expires_at": NOW + 86400 * 80, "scopes": ["pages_manage_posts", 3, "read_insights"]}})
    rsps.post(f"{BASE}/debug_token", json={"data": {
        "is_valid": False, "expires_at": NOW - 5, "scopes": "junk",
        "error": {"code": 190, "subcode": 460, "message": "The session has been invalidated"}}})
    rsps.post(f"{BASE}/debug_token", json={"nothing": True})
    fine = app.debug(PAGE_TOKEN)
    assert fine.is_valid and fine.expires_at is None and fine.scopes == ("pages_manage_posts", "read_insights")
    dead = app.debug(PAGE_TOKEN)
    assert not dead.is_valid and dead.error_code == 190 and dead.scopes == ()
    assert "invalidated" in (dead.problem(now=NOW, min_days=7) or "")
    with pytest.raises(Transient):
        app.debug(PAGE_TOKEN)
    for call in rsps.calls:
        _no_secret_in_url(call)
        assert parse_qs(call.request.body) == {"input_token": [PAGE_TOKEN]}


def test_me_id_is_the_cheap_check_and_auth_errors_surface(rsps):
    client = TokenClient(PAGE_TOKEN, base_url=BASE)
    rsps.get(f"{BASE}/me", json={"id": "111"})
    rsps.get(f"{BASE}/me", status=400, json={"error": {"code": 190, "error_subcode": 467, "message": "logged out"}})
    assert client.me_id() == "111"
    with pytest.raises(AuthError):
        client.me_id()
    assert rsps.calls[0].request.url.endswith("/me?fields=id")
    _no_secret_in_url(rsps.calls[0])


@pytest.mark.parametrize(("info", "expected"), [
    (TokenInfo(True, None, NOW + 90 * 86400, ("pages_manage_posts",)), None),
    (TokenInfo(True, NOW + 3 * 86400, None, ("pages_manage_posts",)), "within 7 days"),
    (TokenInfo(True, NOW + 30 * 86400, None, ("pages_manage_posts",)), None),
    (TokenInfo(True, None, None, ("pages_show_list",)), "lacks the pages_manage_posts"),
    (TokenInfo(True, None, NOW - 1, ("pages_manage_posts",)), "data access expired"),
    (TokenInfo(False, None, None, (), error_message="Session has expired", error_code=190), "Session has expired"),
])
def test_what_refuses_a_token(info, expected):
    problem = info.problem(now=NOW, min_days=7)
    if expected is None:
        assert problem is None
    else:
        assert problem is not None and expected in problem
