"""Tokens as Meta's OAuth endpoints see them: the app token, fb_exchange_token and debug_token.

* The **app access token** is ``{app-id}|{app-secret}`` (developers.facebook.com/docs/facebook-login/
  guides/access-tokens, "App Access Tokens"); the sandbox knows it when it was started with an app
  secret, and it may call ``debug_token`` like Meta's.
* ``/oauth/access_token`` with ``grant_type=fb_exchange_token``, ``client_id``, ``client_secret`` and
  ``fb_exchange_token`` turns a short-lived user token into a long-lived one (about 60 days:
  developers.facebook.com/docs/facebook-login/guides/access-tokens/get-long-lived). Accepted as GET
  (Meta's documented form, every secret in the URL: counted as ``token_in_url_calls``) or POST (the
  same parameters in the body, which is how socialcal sends it).
* ``debug_token`` (developers.facebook.com/docs/graph-api/reference/debug_token) answers
  ``is_valid`` (false for revoked or expired tokens, with the error), ``expires_at`` (0 = never),
  ``data_access_expires_at`` and ``scopes``.
"""

from __future__ import annotations

from typing import Any, Mapping

from graph.sandbox.errors import SandboxError, invalid
from graph.sandbox.params import param_str
from graph.sandbox.records import TokenRecord
from graph.sandbox.store import LONG_LIVED_SECONDS, PageStore, _digest, locked

SANDBOX_APP_ID = "1000000000001"
REVOKED = (190, 467, "Error validating access token: The session is invalid because the user logged out.")
EXPIRED = (190, 463, "Error validating access token: Session has expired.")


class OAuthRules(PageStore):
    """The app token, the long-lived token exchange and debug_token."""

    app_id: str
    app_secret: str | None

    def app_token(self) -> str | None:
        return f"{self.app_id}|{self.app_secret}" if self.app_secret else None

    def app_record(self, token: str) -> TokenRecord | None:
        """A TokenRecord for the app token (it is not stored: it is derived from the app's credentials)."""
        if self.app_token() is not None and token == self.app_token():
            return TokenRecord(token=token, kind="app")
        return None

    @locked
    def exchange_token(self, params: Mapping[str, Any]) -> dict[str, Any]:
        if param_str(params, "grant_type") != "fb_exchange_token":
            raise invalid("Param grant_type must be fb_exchange_token")
        if self.app_secret is None or param_str(params, "client_id") != self.app_id:
            raise SandboxError(101, "Error validating application. Invalid application ID.")
        if param_str(params, "client_secret") != self.app_secret:
            raise SandboxError(1, "Error validating client secret.", http_status=400)
        record = self._tokens.get(param_str(params, "fb_exchange_token") or "")
        if record is None or record.kind != "user":
            raise SandboxError(190, "Invalid OAuth access token - Cannot parse access token")
        if record.revoked or record.expired:
            code, subcode, message = REVOKED if record.revoked else EXPIRED
            raise SandboxError(code, message, subcode=subcode)
        now = self.now()
        token = "EAAL" + _digest(self.seed, "long-lived", record.token, now)[:56]
        self._tokens[token] = TokenRecord(token=token, kind="user", user_id=record.user_id,
                                          page_ids=record.page_ids, expires_at=now + LONG_LIVED_SECONDS,
                                          data_access_expires_at=record.data_access_expires_at,
                                          scopes=record.scopes)
        self._stats["tokens_exchanged"] = self._stats.get("tokens_exchanged", 0) + 1
        return {"access_token": token, "token_type": "bearer", "expires_in": LONG_LIVED_SECONDS}

    @locked
    def debug_token(self, actor: TokenRecord, input_token: str | None) -> dict[str, Any]:
        record = self._tokens.get(input_token or "")
        if record is None:
            return {"data": {"is_valid": False, "error": {"code": 190, "message": "Invalid OAuth access token."}}}
        data: dict[str, Any] = {
            "app_id": self.app_id, "type": "PAGE" if record.kind == "page" else "USER",
            "application": "socialcal sandbox", "is_valid": not (record.revoked or record.expired),
            "expires_at": int(record.expires_at), "data_access_expires_at": int(record.data_access_expires_at),
            "scopes": list(record.scopes),
            **({"profile_id": record.page_id} if record.page_id else {"user_id": record.user_id}),
        }
        if record.revoked or record.expired:
            code, subcode, message = REVOKED if record.revoked else EXPIRED
            data["error"] = {"code": code, "subcode": subcode, "message": message}
        return {"data": data}
