"""Reading the Graph API's answers: ids, bodies, listings and paging links, all untrusted.

Every answer is judged before anything is taken from it: a body that is not a JSON object, a
listing without a ``data`` list, an id that is a number or a list. The client turns a bad answer
into a ``GraphError`` (``Transient``, or ``Ambiguous`` after a create), never into an exception of
another kind and never into a silently empty result. Kept apart from :mod:`graph.client` so that
module stays about which requests are made.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Mapping
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import requests

from graph.errors import Transient

_URL_SECRET_PARAMS = frozenset({"access_token", "appsecret_proof"})
_GRAPH_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")


def graph_id(value: Any) -> str | None:
    """``value`` when it is a well-formed Graph id (a short string of digits, ``_`` and the like), else None.

    Graph sends ids as strings; a number (which JSON may have rounded past 2**53), a list or an
    object is a malformed answer, never something to store as an ``external_id``.
    """
    return value if isinstance(value, str) and _GRAPH_ID.match(value) else None


@dataclass(frozen=True)
class InsightSeries:
    name: str
    period: str | None
    values: list[dict[str, Any]]  # [{"value": …, "end_time": …}], oldest first
    title: str | None = None
    description: str | None = None


def with_limit(url: str, limit: int) -> str:
    """``url`` (a ``paging.next`` link) with its ``limit`` replaced, every other parameter (the cursor) kept."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "limit"]
    return urlunsplit(parts._replace(query=urlencode([*query, ("limit", str(limit))])))


def strip_url_secrets(url: str) -> str:
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in _URL_SECRET_PARAMS]
    return urlunsplit(parts._replace(query=urlencode(query)))


def path_only(target: str) -> str:
    return urlsplit(target).path or target


def decode(response: requests.Response) -> dict[str, Any] | None:
    """The JSON object Graph answered, or None for anything else (HTML, truncated, not an object)."""
    try:
        body = response.json()
    except (ValueError, RecursionError):  # not JSON, truncated, bad bytes, or nested past Python's limit
        return None
    if isinstance(body, bool):  # old Graph versions answer DELETE with a bare `true`
        return {"success": body}
    return body if isinstance(body, dict) else None


def text_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def parse_series(item: Mapping[str, Any]) -> InsightSeries:
    """One metric's series as Graph sent it; values that are not objects, and fields of the wrong
    type, are left out (a value's own ``value`` may be anything: the caller decides)."""
    values = item.get("values")
    return InsightSeries(
        name=str(item.get("name")),
        period=text_or_none(item.get("period")),
        values=[v for v in values if isinstance(v, dict)] if isinstance(values, list) else [],
        title=text_or_none(item.get("title")),
        description=text_or_none(item.get("description")),
    )


def listed(body: Mapping[str, Any], path: str) -> list[Any]:
    """A listing's ``data``, which must be a list: anything else is a malformed answer (Transient),
    never an empty page — an empty page would tell reconciliation that a post is not there."""
    data = body.get("data")
    if not isinstance(data, list):
        raise Transient(f"Graph answered {path} without a data list (got {type(data).__name__})")
    return data


def next_link(body: Mapping[str, Any]) -> str | None:
    paging = body.get("paging")
    link = paging.get("next") if isinstance(paging, dict) else None
    return link if isinstance(link, str) and link.startswith(("https://", "http://")) else None


def absolute_permalink(value: Any) -> str | None:
    """Meta's ``permalink_url`` as an https URL: video permalinks come as a path (``/{page}/videos/{id}/``)."""
    text = text_or_none(value)
    if text is None:
        return None
    if text.startswith("https://"):
        return text
    if text.startswith("/") and not text.startswith("//"):
        return "https://www.facebook.com" + text
    return None


def is_page_post_id(value: str) -> bool:
    """A Page post id is ``{page-id}_{post-id}``; a bare id is a photo, a video or something else."""
    page, sep, post = str(value).partition("_")
    return bool(sep and page and post)


def confirmed(body: Mapping[str, Any], what: str) -> None:
    """Graph confirms an update or a Reel phase with ``{"success": true}``; anything else is not a yes."""
    if body.get("success") is not True:
        raise Transient(f"Graph did not confirm {what} (answer without success: true)")
