"""What one publish costs: three commits (claim+gate, intent before the call, outcome) and one Graph call."""

from __future__ import annotations

import pytest
from sqlalchemy import event
from sqlalchemy.orm import Session

from models import PostStatus
from tasks.domain.clients import client_for_integration
from tasks.domain.publisher import Publisher
from tests.support.factories import connect, make_tenant
from tests.support.pipeline import approve_post, events, write_post
from worker.core.settings import get_settings

pytestmark = pytest.mark.integration


def test_a_scheduled_post_costs_three_commits_and_one_graph_call(db, sandbox, redis_client, monkeypatch):
    monkeypatch.setattr("tasks.domain.approval.enqueue", lambda *a, **k: None)  # publish in-process below
    page = sandbox.add_page(name="Cost")
    tenant_id = make_tenant()
    connect(tenant_id, page.page_id, page.token)
    post_id = write_post(tenant_id, "one call, three commits")
    approve_post(post_id)
    settings = get_settings()
    clients = []

    def factory(integration):
        clients.append(client_for_integration(integration, purpose="publish", settings=settings))
        return clients[-1]

    commits: list[int] = []
    listener = lambda session: commits.append(1)  # noqa: E731
    event.listen(Session, "after_commit", listener)
    try:
        publisher = Publisher(post_id, "cost-test", settings, factory)
        assert publisher.claim_and_load()
        outcome = publisher.run()
    finally:
        event.remove(Session, "after_commit", listener)
    assert outcome.status == PostStatus.SCHEDULED
    assert len(commits) == 3
    assert clients[0].calls == 1
    assert events(post_id)[-2:] == ["publish_intent", "scheduled"]
