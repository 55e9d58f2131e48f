"""Token lifecycle calls: the long-lived token exchange, ``debug_token`` and the cheap ``/me`` check.

A subclass of :class:`graph.client.GraphClient` (same plumbing: hooks, metering, redaction, errors), kept
out of ``client.py`` because these calls are about tokens, not Pages.

* **Long-lived exchange.** A user token from the login dialog lives an hour or two, and Page tokens
  derived from it die with it; a long-lived user token (about 60 days) yields Page tokens with no
  expiry (developers.facebook.com/docs/facebook-login/guides/access-tokens/get-long-lived:
  ``grant_type=fb_exchange_token``, ``client_id``, ``client_secret``, ``fb_exchange_token`` on
  ``/oauth/access_token``). Meta documents it as a GET with every secret in the query string; socialcal
  sends the same parameters in a **POST body**, so neither the app secret nor a token is ever in a URL.
* **debug_token** (developers.facebook.com/docs/graph-api/reference/debug_token): called with the
  **app token** ``{app-id}|{app-secret}`` (access-tokens guide, "App Access Tokens"), which travels
  in the ``Authorization`` header like every token here, and the token to inspect in the POST body
  (``input_token``). It answers ``is_valid``, ``expires_at`` (0 = never), ``data_access_expires_at``,
  ``scopes`` and, for a dead token, ``error``.
* **/me?fields=id** with the Page token itself: the cheapest call that proves a token still works,
  for when no app credentials are configured.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from graph.answers import graph_id, text_or_none
from graph.client import GraphClient
from graph.errors import Transient

MANAGE_POSTS_SCOPE = "pages_manage_posts"


def app_access_token(app_id: str, app_secret: str) -> str:
    return f"{app_id}|{app_secret}"


@dataclass(frozen=True)
class LongLivedToken:
    access_token: str = field(repr=False)
    expires_in: float | None  # seconds, when Meta says


@dataclass(frozen=True)
class TokenInfo:
    """What ``debug_token`` says about a token (never the token itself)."""

    is_valid: bool
    expires_at: float | None  # epoch seconds; None = never expires (Meta's 0)
    data_access_expires_at: float | None
    scopes: tuple[str, ...]
    type: str | None = None
    error_code: int | None = None
    error_message: str | None = None

    @staticmethod
    def iso(epoch: float | None) -> str | None:
        return None if epoch is None else datetime.fromtimestamp(epoch, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

    def problem(self, *, now: float, min_days: float) -> str | None:
        """Why this token must not be used (or stored), in words an operator can act on; None if fine."""
        if not self.is_valid:
            reason = self.error_message or "Meta says the token is no longer valid"
            return f"Meta: {reason}" + (f" (code {self.error_code})" if self.error_code else "")
        if self.expires_at is not None and self.expires_at <= now + min_days * 86400:
            return (f"the token expires at {self.iso(self.expires_at)}, within {min_days:g} days; connect with a "
                    "long-lived token (set SOCIALCAL_FB_APP_ID and SOCIALCAL_FB_APP_SECRET to exchange it)")
        if self.data_access_expires_at is not None and self.data_access_expires_at <= now:
            return f"data access expired at {self.iso(self.data_access_expires_at)}; the Page admin must log in again"
        if MANAGE_POSTS_SCOPE not in self.scopes:
            return f"the token lacks the {MANAGE_POSTS_SCOPE} permission (granted: {', '.join(self.scopes) or 'none'})"
        return None


def _epoch(value: Any) -> float | None:
    """Meta's expiry field: a positive epoch, or 0 / absent for never."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        return None
    return float(value)


class TokenClient(GraphClient):
    """Graph calls about tokens. Built with the app token for ``exchange``/``debug``, or with a Page token
    for ``me_id``."""

    def exchange_for_long_lived(self, *, app_id: str, app_secret: str, short_lived: str) -> LongLivedToken:
        body = self._call("POST", "oauth/access_token", data={
            "grant_type": "fb_exchange_token", "client_id": app_id, "client_secret": app_secret,
            "fb_exchange_token": short_lived})
        token = body.get("access_token")
        if not isinstance(token, str) or not token:
            raise Transient("Graph answered the token exchange without an access_token")
        expires = body.get("expires_in")
        seconds = float(expires) if isinstance(expires, (int, float)) and not isinstance(expires, bool) else None
        return LongLivedToken(token, seconds)

    def debug(self, input_token: str) -> TokenInfo:
        body = self._call("POST", "debug_token", data={"input_token": input_token})
        data = body.get("data")
        if not isinstance(data, dict):
            raise Transient("Graph answered debug_token without data")
        error = data.get("error") if isinstance(data.get("error"), dict) else {}
        scopes = data.get("scopes")
        code = error.get("code")
        return TokenInfo(
            is_valid=data.get("is_valid") is True,
            expires_at=_epoch(data.get("expires_at")),
            data_access_expires_at=_epoch(data.get("data_access_expires_at")),
            scopes=tuple(s for s in scopes if isinstance(s, str)) if isinstance(scopes, list) else (),
            type=text_or_none(data.get("type")),
            error_code=code if isinstance(code, int) and not isinstance(code, bool) else None,
            error_message=text_or_none(error.get("message")),
        )

    def me_id(self) -> str:
        found = graph_id(self._call("GET", "me", params={"fields": "id"}).get("id"))
        if found is None:
            raise Transient("Graph answered /me without a well-formed id")
        return found
