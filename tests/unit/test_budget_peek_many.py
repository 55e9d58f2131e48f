"""``GraphBudget.peek_many``: what ``peek`` says for each token, in one round trip (status, metrics)."""

from __future__ import annotations

import time
import uuid

import pytest

from graph.budget import GraphBudget, page_scope, token_scope
from worker.core.settings import Settings

pytestmark = pytest.mark.redis


def test_peek_many_agrees_with_peek_token_by_token(redis_client):
    prefix = f"test-peek-many-{uuid.uuid4().hex[:8]}:"
    budget = GraphBudget(redis_client, Settings(), prefix=prefix)
    now = time.time()
    try:
        for _ in range(3):
            assert budget.acquire("tokA", "publish", now=now, scope_id="111").allowed
        budget.acquire("tokB", "publish", now=now, scope_id="222")
        budget.pause(page_scope("222"), now + 300, "test", now=now)
        budget.pause(token_scope("tokA"), now + 60, "test", now=now)
        budget.pause("app", now + 30, "test", now=now)
        pairs = [("tokA", "111"), ("tokB", "222"), ("tokC", None)]
        many = budget.peek_many(pairs, now=now + 1)
        for (token_key, scope_id), state in zip(pairs, many):
            single = budget.peek(token_key, scope_id, now=now + 1)
            assert state["calls_in_window"] == single["calls_in_window"]
            assert state["paused_until"] == single["paused_until"]
            assert state["capacity"] == single["capacity"]
        assert [m["calls_in_window"] for m in many] == [3, 1, 0]
        assert set(many[1]["paused_until"]) == {"app", page_scope("222")}
    finally:
        keys = list(redis_client.scan_iter(match=prefix + "*"))
        if keys:
            redis_client.delete(*keys)
