"""Counting Graph calls for the metrics: route templates and a hooks wrapper around the budget's hooks.

A metric label must stay bounded, so a call is named by its route *template* (``POST /{page}/feed``,
``GET /{post}/insights``), never by its raw path: Page, post and video ids, upload URLs and query
strings never reach a label. ``MeteredHooks`` wraps whatever hooks the client already has (the shared
budget's ``BudgetHooks``) and counts one call per request actually sent, plus the calls the budget
refused before sending.
"""

from __future__ import annotations

import re

from graph.client import CallHooks, CallInfo
from graph.errors import GraphError
from graph.usage import Usage
from worker.core import metrics

# Path segments that are edges or fixed nodes of the Graph API (kept as they are in a template).
KNOWN_SEGMENTS = frozenset({
    "me", "accounts", "feed", "photos", "videos", "video_reels", "scheduled_posts",
    "published_posts", "insights", "comments", "reactions", "attachments", "oauth", "access_token", "debug_token",
    "video-upload", "subscribed_apps",
})
_POST_ID = re.compile(r"^\d+_\d+$")
_NUMERIC = re.compile(r"^\d+$")
_VERSION = re.compile(r"^v\d+(\.\d+)?$")
MAX_SEGMENTS = 4


def route_template(call: CallInfo) -> str:
    """``METHOD /template`` for a call: ids become ``{page}``, ``{post}`` or ``{id}``, the rest ``{other}``."""
    segments = [s for s in call.path.split("?", 1)[0].strip("/").split("/") if s][:MAX_SEGMENTS]
    parts = []
    for segment in segments:
        if segment in KNOWN_SEGMENTS:
            parts.append(segment)
        elif call.scope_id and segment == call.scope_id:
            parts.append("{page}")
        elif _POST_ID.match(segment):
            parts.append("{post}")
        elif _NUMERIC.match(segment):
            parts.append("{id}")
        elif _VERSION.match(segment):
            parts.append("{version}")
        else:
            parts.append("{other}")
    method = call.method.upper() if call.method.upper() in ("GET", "POST", "DELETE") else "OTHER"
    return f"{method} /" + "/".join(parts)


class MeteredHooks:
    """``CallHooks`` that count every request sent by route and outcome, then delegate to ``inner``."""

    def __init__(self, inner: CallHooks | None, purpose: str) -> None:
        self.inner = inner
        self.purpose = purpose

    def before_call(self, call: CallInfo) -> None:
        if self.inner is None:
            return
        try:
            self.inner.before_call(call)
        except GraphError:  # the budget refused (or was unreachable): nothing is sent
            metrics.graph_refusal(self.purpose)
            raise

    def after_call(self, call: CallInfo, usage: Usage, error: GraphError | None) -> None:
        try:  # the budget learns from Meta's answer first: a metrics hiccup must not cost a pause
            if self.inner is not None:
                self.inner.after_call(call, usage, error)
        finally:
            metrics.graph_call(route_template(call), error)
