"""The sandbox's admin API under ``/_sandbox``: set it up, break it, look inside it.

No auth, JSON in and out, and never counted as Graph calls, so tests, the demo and ``docker
compose`` health checks can add Pages, set faults, budgets and throttles, revoke tokens, move the
clock, set a Page's engaged users, mint extra Page tokens, set what debug_token reports for a token, and
read objects, stats and the call log over HTTP, the same operations
:class:`~graph.sandbox.server.SandboxServer` offers in Python.
"""

from __future__ import annotations

from typing import Any, Mapping
from urllib.parse import unquote

from graph.sandbox.reply import Reply
from graph.sandbox.state import SandboxState

ADMIN_PREFIX = "/_sandbox"


def admin_reply(state: SandboxState, method: str, path: str, query: Mapping[str, Any],
                body: Mapping[str, Any]) -> Reply:
    """Serve ``{method} /_sandbox{path}``; bad values are 400 and unknown routes 404, as plain JSON."""
    parts = [unquote(part) for part in path.strip("/").split("/") if part]
    try:
        if method == "GET" and parts == ["health"]:
            return Reply(200, {"ok": True})
        if parts == ["pages"] and method == "GET":
            return Reply(200, {"data": [page.to_dict() for page in state.pages()]})
        if parts == ["pages"] and method == "POST":
            page = state.add_page(
                page_id=body.get("page_id"), name=body.get("name"), token=body.get("token"),
                user_token=body.get("user_token"), anomaly=_truthy(body.get("anomaly", True)),
                anomaly_day=body.get("anomaly_day"), tasks=body.get("tasks"),
            )
            return Reply(200, page.to_dict())
        if len(parts) == 3 and parts[0] == "pages" and parts[2] == "objects" and method == "GET":
            if state.page(parts[1]) is None:
                return Reply(404, {"error": f"unknown page {parts[1]}"})
            return Reply(200, state.objects(parts[1]))
        if len(parts) == 3 and parts[0] == "pages" and parts[2] == "engaged_users" and method == "POST":
            return Reply(200, state.set_engaged_users(parts[1], int(body.get("engaged_users", 1))))
        if len(parts) == 3 and parts[0] == "pages" and parts[2] == "tokens" and method == "POST":
            return Reply(200, {"token": state.add_page_token(parts[1])})
        if parts == ["tokens"] and method == "POST":
            if not state.set_token(str(body.get("token", "")), expires_at=body.get("expires_at"),
                                   data_access_expires_at=body.get("data_access_expires_at"),
                                   scopes=body.get("scopes")):
                return Reply(404, {"error": "unknown token"})
            return Reply(200, {"success": True})
        if parts == ["stats"] and method == "GET":
            return Reply(200, state.stats())
        if parts == ["calls"] and method == "GET":
            return Reply(200, {"data": state.call_log(int(query.get("limit", 200)))})
        if parts == ["faults"] and method == "GET":
            return Reply(200, state.faults())
        if parts == ["faults"] and method == "POST":
            return Reply(200, state.set_faults(
                rules=body.get("rules"), latency_ms=body.get("latency_ms"),
                fault_timeout_seconds=body.get("fault_timeout_seconds", body.get("timeout_seconds")),
                video_processing_seconds=body.get("video_processing_seconds"),
                **{knob: body[knob] for knob in ("reduce_data_above", "insights_reduce_data_above") if knob in body}))
        if parts == ["budget"] and method == "GET":
            return Reply(200, state.budget())
        if parts == ["budget"] and method == "POST":
            return Reply(200, state.set_budget(
                calls_per_window=body.get("calls_per_window"), window_seconds=body.get("window_seconds"),
                app_calls_per_window=body.get("app_calls_per_window", "keep"),
                window_mode=body.get("window_mode"), reels_per_window=body.get("reels_per_window"),
                reels_window_seconds=body.get("reels_window_seconds")))
        if parts == ["throttle"] and method == "POST":
            state.throttle_burst(page_id=body.get("page_id"), calls=int(body.get("calls", 1)),
                                 code=int(body.get("code", 80001)),
                                 regain_minutes=int(body.get("regain_minutes", 1)))
            return Reply(200, {"success": True})
        if parts in (["revoke"], ["expire"]) and method == "POST":
            action = state.revoke_token if parts == ["revoke"] else state.expire_token
            if not action(str(body.get("token", ""))):
                return Reply(404, {"error": "unknown token"})
            return Reply(200, {"success": True})
        if parts == ["clock"] and method == "POST":
            return Reply(200, {"now": state.advance_clock(float(body.get("advance_seconds", 0)))})
        if parts == ["reset"] and method == "POST":
            state.reset()
            return Reply(200, {"success": True})
    except (ValueError, TypeError) as exc:
        return Reply(400, {"error": str(exc)})
    return Reply(404, {"error": f"no admin route {method} {ADMIN_PREFIX}{path}"})


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)
