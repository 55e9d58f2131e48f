"""Graph's error responses, as the sandbox raises them.

Every rule in the sandbox either returns a JSON-ready value or raises :class:`SandboxError` with
the fields Meta would send (code, subcode, type, is_transient, user title/message). One exception
type means the router renders every refusal the same way, over HTTP and inside batch items.
"""

from __future__ import annotations

from typing import Any


class SandboxError(Exception):
    """A Graph error response: ``code``/``subcode``/``message`` as Meta would send them."""

    def __init__(
        self,
        code: int,
        message: str,
        *,
        subcode: int | None = None,
        http_status: int | None = None,
        type: str = "OAuthException",  # noqa: A002 - Graph's field name
        is_transient: bool | None = None,
        user_title: str | None = None,
        user_msg: str | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.subcode = subcode
        self.type = type
        self.http_status = http_status or default_http_status(code)
        self.is_transient = code in (1, 2, 4, 17, 32, 341, 613) if is_transient is None else is_transient
        self.user_title = user_title
        self.user_msg = user_msg

    def body(self, fbtrace_id: str) -> dict[str, Any]:
        """Graph's error body. ``error_subcode`` is left out when there is none, as Meta does."""
        error: dict[str, Any] = {"message": self.message, "type": self.type, "code": self.code}
        if self.subcode is not None:
            error["error_subcode"] = self.subcode
        error["is_transient"] = self.is_transient
        if self.user_title:
            error["error_user_title"] = self.user_title
        if self.user_msg:
            error["error_user_msg"] = self.user_msg
        error["fbtrace_id"] = fbtrace_id
        return {"error": error}


def default_http_status(code: int) -> int:
    """The HTTP status Graph tends to send with ``code`` (clients must not rely on it)."""
    if code in (1, 2):
        return 500
    if code == 4:
        return 403
    return 400


def not_found(object_id: str, method: str = "GET") -> SandboxError:
    verb = {"GET": "get", "POST": "post", "DELETE": "delete"}.get(method.upper(), method.lower())
    return SandboxError(
        100,
        f"Unsupported {verb} request. Object with ID '{object_id}' does not exist, cannot be loaded due to "
        "missing permissions, or does not support this operation. Please read the Graph API documentation "
        "at https://developers.facebook.com/docs/graph-api",
        subcode=33,
        type="GraphMethodException",
    )


def invalid(message: str, **kwargs: Any) -> SandboxError:
    return SandboxError(100, f"(#100) {message}", **kwargs)


def nonexisting_field(edge: str, node_type: str) -> SandboxError:
    """Graph's answer to an edge the node does not have, including edges Meta removed
    (``promotable_posts``, removed in v3.3): code 100, "Tried accessing nonexisting field"."""
    return invalid(f"Tried accessing nonexisting field ({edge}) on node type ({node_type})")
