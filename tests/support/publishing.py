"""Running the publisher in this process against the sandbox (no Celery worker): a Page of its own,
one attempt, and what that attempt left in the database. The fast tests of ``tasks.domain.publisher``
(``tests/unit/test_publisher_*.py``) share these, so a mutation run of the publisher sees them all."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from graph.client import GraphClient
from models import FailedJob, Integration, PostEvent, SocialPost, utcnow
from models.db import transaction
from tasks.domain.publisher import default_client_factory, publish_post
from tests.support.factories import connect, make_tenant
from worker.core.settings import get_settings


@pytest.fixture
def page(db: str, sandbox: Any, redis_client: Any, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A tenant with a sandbox Page connected; approvals send no wake-up (the test publishes itself)."""
    monkeypatch.setattr("tasks.domain.approval.enqueue", lambda *a, **k: None)
    # A Page and token of its own: the shared call budget in Redis is keyed by them and outlives the test.
    record = sandbox.add_page(page_id=str(uuid.uuid4().int % 10**15 + 10**15), name="Cafe",
                              token=f"EAAtest{uuid.uuid4().hex}")
    tenant_id = make_tenant()
    integration_id = connect(tenant_id, record.page_id, record.token, "Cafe")
    return {"tenant_id": tenant_id, "page_id": record.page_id, "integration_id": integration_id}


def publish(post_id: str, owner: str = "w1", **kwargs: Any) -> dict[str, Any]:
    """One publish attempt, as the task runs it."""
    return publish_post(post_id, owner, get_settings(), **kwargs)


def client_factory_with(**wrappers: Callable[[Callable[..., Any]], Callable[..., Any]]
                        ) -> Callable[[Integration], GraphClient]:
    """The publisher's own client factory with some client methods replaced, for moments and answers the
    sandbox does not produce by itself: each wrapper gets the real bound method and returns what the
    publisher calls instead (which may still call the real one, so the HTTP call is still made)."""
    real = default_client_factory(get_settings())

    def factory(integration: Integration) -> GraphClient:
        client = real(integration)
        for name, wrap in wrappers.items():
            setattr(client, name, wrap(getattr(client, name)))
        return client

    return factory


def bring_due(post_id: str) -> None:
    """Make a released post due now (what waiting for ``due_at`` would do)."""
    with transaction() as session:
        post = session.get(SocialPost, post_id)
        assert post is not None
        post.due_at = utcnow() - timedelta(seconds=1)


def failed_jobs(post_id: str) -> list[FailedJob]:
    with transaction() as session:
        rows = session.query(FailedJob).filter_by(post_id=post_id).all()
        for row in rows:
            session.expunge(row)
        return rows


def event_details(post_id: str, kind: str) -> list[dict[str, Any]]:
    with transaction() as session:
        return [dict(e.detail or {}) for e in
                session.query(PostEvent).filter_by(post_id=post_id, kind=kind).order_by(PostEvent.id)]
