"""Every message socialcal sends to an agent queue matches its schema file — and nothing more.

Runs the real domain (plan a month, pull the sandbox's insights, find the planted anomaly, build a
report input) on both databases, captures what it sends after commit, and validates each message
against its pydantic model and against the exported JSON Schema file made strict (no property the
schema does not list), so a field added to a message without its schema fails here.
"""

from __future__ import annotations

import copy
import json
from datetime import timedelta
from typing import Any

import jsonschema
import pytest

from models.db import transaction
from tasks.domain.anomalies import detect_anomalies
from tasks.domain.contracts.export import schema_documents
from tasks.domain.contracts.messages import AGENT_MESSAGES
from tasks.domain.page_insights import pull_page_insights
from tasks.domain.planning import plan_month
from tasks.domain.post_metrics import sync_post_metrics
from tasks.domain.reports import build_report_input
from tests.integration.test_insights_sandbox import connect, publish_posts, unbudgeted
from worker.core.queues import AGENT_MESSAGE_NAMES

pytestmark = pytest.mark.integration


def strict(schema: Any) -> Any:
    """The schema with every object closed: a property it does not list is an error."""
    schema = copy.deepcopy(schema)

    def close(node: Any) -> None:
        if isinstance(node, dict):
            if "properties" in node and node.get("additionalProperties", True) is True:
                node["additionalProperties"] = False
            for value in node.values():
                close(value)
        elif isinstance(node, list):
            for value in node:
                close(value)
    close(schema)
    return schema


def test_every_agent_message_matches_its_schema(db, sandbox, sent):
    page, tenant_id, integration_id = connect(sandbox)
    publish_posts(sandbox, page, tenant_id, integration_id, 2)
    with transaction() as session:
        plan_month(session, tenant_id, (sandbox.state.today() + timedelta(days=40)).strftime("%Y-%m"))
    pull_page_insights(integration_id, client_factory=unbudgeted)
    sync_post_metrics(integration_id, client_factory=unbudgeted)
    with transaction() as session:
        detect_anomalies(session, integration_id, threshold=3.5)
    today = sandbox.state.today()
    with transaction() as session:
        build_report_input(session, tenant_id, today - timedelta(days=7), today)

    documents = schema_documents()
    seen = set()
    for name, args, kwargs, options in sent:
        queue = next((q for q, n in AGENT_MESSAGE_NAMES.items() if n == name), None)
        if queue is None:
            continue  # a follow-up task, not an agent message
        assert options["queue"] == queue.value and not kwargs and len(args) == 1
        message = json.loads(json.dumps(args[0]))  # as the agent reads it off the queue
        AGENT_MESSAGES[queue].model_validate(message)
        document = documents[f"messages/{name}.json"]
        jsonschema.Draft202012Validator(strict(document), format_checker=jsonschema.FormatChecker()).validate(message)
        seen.add(name)
    assert seen == set(AGENT_MESSAGE_NAMES.values()), f"not every agent message was exercised: {seen}"


def test_a_field_the_schema_does_not_list_is_caught():
    document = schema_documents()["messages/agents.anomaly_detector.request.json"]
    message = {"schema_version": 1, "tenant_id": "t", "integration_id": "i", "page_id": "p", "metric": "m",
               "day": "2030-01-01", "value": 1.0, "expected": 1.0, "score": 4.0, "direction": "up"}
    jsonschema.Draft202012Validator(strict(document)).validate(message)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(strict(document)).validate({**message, "new_field": 1})
