"""One error hierarchy for the Graph API, classified by ``error.code``, never by HTTP status.

Tasks decide retry or fail from the class alone (DESIGN.md, rule 4), so the mapping lives here, in
one function, and every class says what it means in plain English (``hint``):

* ``RateLimited``   — Meta throttled us; pause the scope until ``retry_at`` (not an ordinary retry).
* ``Transient``     — try again with backoff; nothing was (or could have been) half-done.
  ``RequestTooLarge`` (code 1 "Please reduce the amount of data you're asking for") is the one
  Transient that must not be retried unchanged: ask for fewer items, or fail.
* ``Ambiguous``     — a write whose outcome is unknown; reconcile with the Page before resending,
                      because the Graph API has no idempotency key.
* ``AuthError``     — the token is dead; mark the integration ``needs_reconnect``.
* ``PolicyBlocked``  — code 368 other than 1390008: Meta blocked the action under its policies;
                      waiting does not clear it, so a task tries a few times, then fails with Meta's message.
* ``PermissionDenied`` / ``InvalidRequest`` / ``NotFound`` — fail fast, keep Graph's message.

HTTP status matters only when the body carries no Graph error (a proxy's 502, an HTML page).
Errors pickle (Celery moves them between processes) and never carry a token: messages are
scrubbed of the literal secrets the caller passes and of anything that looks like a token.
"""

from __future__ import annotations

import json
import time
from typing import Any, Iterable, Mapping

import requests
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

from graph.usage import Usage
from worker.core.redaction import REDACTED, redact_text

# 368 is a rate limit only with subcode POSTING_TOO_FAST (see _classify); then it throttles the Page.
RATE_LIMIT_SCOPES: dict[int, str] = {4: "app", 341: "app", 17: "user", 32: "page", 613: "account", 368: "page"}
POLICY_BLOCK_CODE = 368
POSTING_TOO_FAST = 1390008  # 368/1390008: "we limit how often you can post" (a frequency limit)
REDUCE_DATA_MESSAGE = "reduce the amount of data"  # code 1: the request is too heavy, not Graph
BUC_CODES = range(80000, 80015)
AUTH_CODES = frozenset({102, 190, 2069032})
PAGE_TOKEN_REQUIRED = 2069032
NOT_FOUND_SUBCODE = 33

_HINTS: dict[tuple[int, int | None], str] = {
    (1, None): "Graph had an unknown, usually temporary, problem; retry with backoff.",
    (2, None): "Graph's service is temporarily unavailable; retry with backoff.",
    (4, None): "The app's request limit is reached; pause all calls for this app until access is back.",
    (17, None): "The user's request limit is reached; pause calls with this token until access is back.",
    (32, None): "The Page's request limit is reached; pause calls for this Page until access is back.",
    (341, None): "The application limit is reached; pause all calls for this app until access is back.",
    (613, None): "A custom rate limit is reached; slow down the calls of this kind.",
    (613, 1996): "Meta saw an inconsistent request volume; spread calls out evenly over time.",
    (368, None): ("Meta blocked this post under its policies: read Meta's message, change the content in the "
                  "approval UI and approve it again; sending it unchanged will be blocked again."),
    (368, POSTING_TOO_FAST): "Facebook limits how often this Page can post; pause publishing for a long while.",
    (102, None): "The login session is invalid; reconnect the Page with `socialcal facebook connect`.",
    (190, None): "The access token is invalid; reconnect the Page with `socialcal facebook connect`.",
    (190, 458): "The user removed the app; reconnect the Page with `socialcal facebook connect`.",
    (190, 459): "The user must log in at facebook.com to clear a checkpoint, then reconnect the Page.",
    (190, 460): "The user changed their password; reconnect the Page with `socialcal facebook connect`.",
    (190, 463): "The Page token has expired; reconnect the Page with `socialcal facebook connect`.",
    (190, 464): "The user has not confirmed their account at facebook.com; confirm it, then reconnect.",
    (190, 467): "The access token is invalid; reconnect the Page with `socialcal facebook connect`.",
    (190, 492): "The user no longer has a role on the Page; give them one, then reconnect the Page.",
    (190, PAGE_TOKEN_REQUIRED): "This call needs a Page token, not a user token; reconnect with `socialcal facebook connect`.",
    (PAGE_TOKEN_REQUIRED, None): "This call needs a Page token, not a user token; reconnect with `socialcal facebook connect`.",
    (10, None): "The app lacks a permission for this call; reconnect the Page granting the missing permission.",
    (100, None): "Graph rejected a parameter; fix the request (Graph's message names the parameter).",
    (100, NOT_FOUND_SUBCODE): "The object does not exist, was deleted, or the token cannot see it.",
    (803, None): "The object id or alias does not exist; check the id.",
    (506, None): "Facebook rejected a duplicate of a recent post; change the text before posting again.",
    (1609005, None): "Facebook could not attach the link; check the URL is public and reachable.",
}


def scrub_text(text: str, secrets: Iterable[str] = ()) -> str:
    """Mask literal secrets (the token, the app secret) and anything that looks like a token."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    return redact_text(text)


class GraphError(Exception):
    """Base of every Graph failure; ``code``/``subcode`` are Meta's, ``None`` for network errors."""

    default_hint = "The Graph API call failed; see the message."

    def __init__(
        self,
        graph_message: str = "",
        *,
        code: int | None = None,
        subcode: int | None = None,
        type: str | None = None,  # noqa: A002 - Meta's field name
        fbtrace_id: str | None = None,
        http_status: int | None = None,
        usage: Usage | None = None,
        is_transient: bool = False,
        user_message: str | None = None,
        scrub: Iterable[str] = (),
    ) -> None:
        secrets = tuple(scrub)
        self.graph_message = scrub_text(graph_message or "", secrets)
        self.code = code
        self.subcode = subcode
        self.type = type
        self.fbtrace_id = fbtrace_id
        self.http_status = http_status
        self.usage = usage
        self.is_transient = is_transient
        self.user_message = scrub_text(user_message, secrets) if user_message else None
        super().__init__(self.graph_message)

    def __reduce__(self) -> tuple[Any, ...]:
        # Rebuild from the (already scrubbed) message, then restore every attribute as it was.
        return (self.__class__, (self.graph_message,), self.__dict__.copy())

    @property
    def hint(self) -> str:
        """What the error means and what to do about it, in one line."""
        if self.code is not None:
            found = _HINTS.get((self.code, self.subcode)) or _HINTS.get((self.code, None))
            if found:
                return found
        return self.default_hint

    def __str__(self) -> str:
        head = "Graph error"
        if self.code is not None:
            head += f" {self.code}" + (f"/{self.subcode}" if self.subcode is not None else "")
        if self.type:
            head += f" ({self.type})"
        elif self.http_status is not None:
            head += f" (HTTP {self.http_status})"
        return f"{head}: {self.graph_message or 'no message'} — {self.hint}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, subcode={self.subcode!r}, message={self.graph_message!r})"


class RateLimited(GraphError):
    """Meta throttled the ``scope`` ("app", "user", "page", "account"; "budget" locally)."""

    default_hint = "A Graph rate limit is reached; pause this scope until access is back, then retry."

    def __init__(self, graph_message: str = "", *, scope: str | None = None, retry_at: float | None = None, **kwargs: Any) -> None:
        super().__init__(graph_message, **kwargs)
        self.scope = scope or rate_limit_scope(self.code) or "app"
        self.retry_at = retry_at  # epoch seconds when Meta expects access back; None = unknown


class BudgetExhausted(RateLimited):
    """Refused locally by the shared call budget before anything was sent to Meta."""

    default_hint = "socialcal's shared call budget for this token is spent; the call was not sent, retry at retry_at."

    def __init__(self, graph_message: str = "call budget exhausted", *, retry_at: float | None = None, **kwargs: Any) -> None:
        kwargs.pop("scope", None)
        super().__init__(graph_message, scope="budget", retry_at=retry_at, **kwargs)


class ReelLimitReached(BudgetExhausted):
    """The Page has used its API-published Reels for the rolling window (Meta: 30 per 24 h); checked
    before a Reel upload starts, so nothing was sent. Pauses nothing else: only this Reel waits."""

    default_hint = ("Meta allows 30 API-published Reels per Page per 24 h; this Reel waits, approved, until a slot "
                    "frees at retry_at.")


class Transient(GraphError):
    default_hint = "A temporary failure; nothing was changed, retry with backoff."


class RequestTooLarge(Transient):
    """Code 1 "Please reduce the amount of data you're asking for": Graph could not serve a request
    this heavy (seen on listings with insights expansions, HTTP 500). Ask again for fewer items (a
    smaller ``limit``, fewer metrics, a shorter range); the same request will fail the same way."""

    default_hint = ("Graph refused to return this much data in one answer; ask for fewer items per page "
                    "(socialcal halves the page down to its floor), retrying unchanged will not help.")

    @property
    def hint(self) -> str:
        return self.default_hint  # not code 1's generic "retry with backoff"


class PolicyBlocked(GraphError):
    """Code 368 without subcode 1390008: Meta blocked the action (usually the content) under its
    policies. Waiting does not clear it; a task makes a few spaced attempts, then fails."""

    default_hint = _HINTS[(POLICY_BLOCK_CODE, None)]

    @property
    def hint(self) -> str:
        return self.default_hint


class Ambiguous(GraphError):
    default_hint = (
        "The write may or may not have happened; reconcile with the Page's scheduled or published posts "
        "before sending it again."
    )

    @property
    def hint(self) -> str:
        # The code-specific hint (e.g. "retry with backoff" for code 2) would be wrong advice here.
        return self.default_hint


class AuthError(GraphError):
    default_hint = "The token is no longer valid; reconnect the Page with `socialcal facebook connect`."


class PermissionDenied(GraphError):
    default_hint = "The token lacks a permission for this call; reconnect the Page granting it."


class InvalidRequest(GraphError):
    default_hint = "Graph rejected the request; fix it, retrying the same request will not help."


class NotFound(InvalidRequest):
    default_hint = "The object does not exist, was deleted, or the token cannot see it."


def rate_limit_scope(code: int | None) -> str | None:
    """The scope a rate-limit code throttles, or None when the code is not a rate limit."""
    if code is None:
        return None
    if code in RATE_LIMIT_SCOPES:
        return RATE_LIMIT_SCOPES[code]
    return "page" if code in BUC_CODES else None


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None and not isinstance(value, bool) else None
    except (TypeError, ValueError):
        return None


def _error_data(raw: Any) -> dict[str, Any]:
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            return {}
    return raw if isinstance(raw, dict) else {}


def _retry_at(usage: Usage | None, error_data: Mapping[str, Any]) -> float | None:
    """Epoch seconds when access is back, from BUC usage or error_data (both in minutes)."""
    candidates: list[float] = []
    if usage is not None and (seconds := usage.regain_seconds()):
        candidates.append(seconds)
    minutes = error_data.get("estimated_time_to_regain_access")
    if isinstance(minutes, (int, float)) and not isinstance(minutes, bool) and minutes > 0:
        candidates.append(minutes * 60.0)
    return time.time() + max(candidates) if candidates else None


def is_reduce_data(code: int | None, message: str) -> bool:
    """Code 1 whose message asks for less data (Meta's wording: "Please reduce the amount of data
    you're asking for, then retry your request")."""
    return code == 1 and REDUCE_DATA_MESSAGE in message.lower()


def _classify(code: int, subcode: int | None, transient: bool, is_create: bool,
              message: str = "") -> type[GraphError]:
    # Order matters: code 4 arrives with is_transient=true, and rate limits must win.
    if code == POLICY_BLOCK_CODE:
        # Only "posting too fast" clears by waiting; every other 368 is a policy block.
        return RateLimited if subcode == POSTING_TOO_FAST else PolicyBlocked
    if rate_limit_scope(code):
        return RateLimited
    if code in AUTH_CODES or subcode == PAGE_TOKEN_REQUIRED:
        return AuthError
    if (code == 100 and subcode == NOT_FOUND_SUBCODE) or code == 803:
        return NotFound
    if code == 10 or 200 <= code <= 299:
        return PermissionDenied
    if is_reduce_data(code, message) and not is_create:
        return RequestTooLarge
    if code in (1, 2) or transient:
        # Graph can fail a create after the post exists; only reconciliation can tell.
        return Ambiguous if is_create else Transient
    return InvalidRequest


def error_from_response(
    http_status: int,
    body: Mapping[str, Any] | None,
    usage: Usage | None,
    *,
    is_write: bool,
    is_create: bool = False,
    scrub: Iterable[str] = (),
) -> GraphError:
    """Map one Graph response (status, decoded JSON body or None, usage) to its error class."""
    secrets = tuple(scrub)
    error = body.get("error") if isinstance(body, Mapping) else None
    code = _int(error.get("code")) if isinstance(error, Mapping) else None
    if code is None:
        return _error_without_body(http_status, error, usage, is_write=is_write, scrub=secrets)

    assert isinstance(error, Mapping)
    subcode = _int(error.get("error_subcode"))
    transient = error.get("is_transient") is True
    common: dict[str, Any] = dict(
        code=code,
        subcode=subcode,
        type=error.get("type") if isinstance(error.get("type"), str) else None,
        fbtrace_id=error.get("fbtrace_id") if isinstance(error.get("fbtrace_id"), str) else None,
        http_status=http_status,
        usage=usage,
        is_transient=transient,
        user_message=error.get("error_user_msg") if isinstance(error.get("error_user_msg"), str) else None,
        scrub=secrets,
    )
    message = str(error.get("message") or "")
    cls = _classify(code, subcode, transient, is_create, message)
    if cls is RateLimited:
        return RateLimited(message, retry_at=_retry_at(usage, _error_data(error.get("error_data"))), **common)
    return cls(message, **common)


def _error_without_body(
    http_status: int, error: Any, usage: Usage | None, *, is_write: bool, scrub: tuple[str, ...]
) -> GraphError:
    """No Graph error code to go by: only now does the HTTP status decide."""
    message = str(error.get("message") or "") if isinstance(error, Mapping) else ""
    common: dict[str, Any] = dict(http_status=http_status, usage=usage, scrub=scrub)
    if http_status >= 500 or http_status < 400:
        # A 5xx from a proxy, or a 2xx we cannot read: a write may have gone through.
        cls: type[GraphError] = Ambiguous if is_write else Transient
        return cls(message or f"HTTP {http_status} without a readable Graph response", **common)
    if http_status in (408, 429):
        return Transient(message or f"HTTP {http_status} without a Graph error body", **common)
    return InvalidRequest(message or f"HTTP {http_status} without a Graph error body", **common)


def error_from_exception(exc: requests.RequestException, *, is_write: bool, scrub: Iterable[str] = ()) -> GraphError:
    """Map a network failure: before the request left → Transient; after → Ambiguous for writes."""
    message = f"{type(exc).__name__}: {exc}"
    secrets = tuple(scrub)
    if isinstance(exc, (requests.exceptions.InvalidURL, requests.exceptions.InvalidSchema,
                        requests.exceptions.MissingSchema, requests.exceptions.InvalidHeader)):
        return InvalidRequest(message, scrub=secrets)
    if _failed_before_sending(exc) or not is_write:
        return Transient(message, scrub=secrets)
    return Ambiguous(message, scrub=secrets)


def _failed_before_sending(exc: BaseException) -> bool:
    """True when the connection never carried the request (refused, DNS, TLS, connect timeout)."""
    if isinstance(exc, (requests.exceptions.ConnectTimeout, requests.exceptions.SSLError,
                        requests.exceptions.ProxyError)):
        return True
    if not isinstance(exc, requests.exceptions.ConnectionError):
        return False  # ReadTimeout, ChunkedEncodingError: the request was already on the wire
    seen: set[int] = set()
    pending: list[Any] = [exc]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, (NewConnectionError, ConnectTimeoutError)):
            return True
        if isinstance(current, BaseException):
            pending.extend([getattr(current, "reason", None), current.__cause__, current.__context__, *current.args])
    return False
