"""The wire format README "Integrate" documents is what Celery really puts in Redis, and what the
TypeScript example writes: checked on messages captured from the queues with LRANGE."""

from __future__ import annotations

import base64
import json
import re
import subprocess

import pytest

from tests.integration.test_typescript_example import EXAMPLE, ts_build  # noqa: F401 - the fixture
from tests.support.stack import ROOT
from worker.app import app
from worker.core.queues import Queue

pytestmark = pytest.mark.integration
ENVELOPE_KEYS = {"body", "content-encoding", "content-type", "headers", "properties"}


def captured(redis_client, queue: str) -> dict:
    raw = redis_client.lrange(queue, 0, -1)
    assert len(raw) == 1, f"expected one message on {queue}, found {len(raw)}"
    return json.loads(raw[0])


def integrate_section() -> str:
    readme = (ROOT / "README.md").read_text()
    match = re.search(r"^## Integrate\n(.*?)(?=^## |\Z)", readme, re.S | re.M)
    assert match, "README has no Integrate section"
    return match.group(1)


def test_a_task_sent_by_celery_is_the_documented_envelope(redis_client):
    redis_client.flushdb()
    result = app.send_task("approval.approve", args=["6f1c2f0e-0000-4000-8000-000000000001", "ann", "ab" * 32])
    message = captured(redis_client, Queue.DEFAULT.value)
    assert set(message) == ENVELOPE_KEYS
    assert message["content-type"] == "application/json" and message["content-encoding"] == "utf-8"
    headers, properties = message["headers"], message["properties"]
    assert headers["task"] == "approval.approve" and headers["id"] == result.id == headers["root_id"]
    assert properties["correlation_id"] == result.id and properties["body_encoding"] == "base64"
    assert properties["delivery_info"] == {"exchange": "", "routing_key": "default"}
    body = json.loads(base64.b64decode(message["body"]))
    assert body == [["6f1c2f0e-0000-4000-8000-000000000001", "ann", "ab" * 32], {},
                    {"callbacks": None, "errbacks": None, "chain": None, "chord": None}]
    section = integrate_section()
    for key in [*headers, *properties, *message]:
        assert f"`{key}`" in section, f"README Integrate does not document {key!r}"


def test_an_agent_request_is_a_celery_message_named_for_its_queue(redis_client):
    from tasks.domain.messaging import send_now

    redis_client.flushdb()
    send_now("agents.post_writer.request", {"tenant_id": "t", "slot_id": "s"}, queue="agents.post_writer")
    message = captured(redis_client, "agents.post_writer")
    assert message["headers"]["task"] == "agents.post_writer.request"
    assert message["properties"]["delivery_info"] == {"exchange": "", "routing_key": "agents.post_writer"}
    args, kwargs, _embed = json.loads(base64.b64decode(message["body"]))
    assert args == [{"tenant_id": "t", "slot_id": "s"}] and kwargs == {}


def test_the_typescript_example_writes_the_same_envelope(redis_client, ts_build):  # noqa: F811
    redis_client.flushdb()
    app.send_task("approval.approve", args=["p", "ann", "h"])
    python = captured(redis_client, "default")
    script = (f"const c = require({json.dumps(str(ts_build / 'celery.js'))});"
              "console.log(JSON.stringify(c.envelope('approval.approve', ['p', 'ann', 'h'], {}, {queue: 'default'})))")
    node = subprocess.run(["node", "-e", script], capture_output=True, text=True, timeout=60,
                          env={"NODE_PATH": str(EXAMPLE / "node_modules"), "PATH": "/usr/bin:/bin:/usr/local/bin"})
    assert node.returncode == 0, node.stderr
    typescript = json.loads(node.stdout)
    assert set(typescript) == set(python)
    for part in ("headers", "properties"):
        assert set(typescript[part]) == set(python[part]), part
        for key, value in python[part].items():
            assert type(typescript[part][key]) is type(value) or value is None or typescript[part][key] is None, key
    assert typescript["properties"]["delivery_info"] == python["properties"]["delivery_info"]
    assert json.loads(base64.b64decode(typescript["body"]))[:2] == json.loads(base64.b64decode(python["body"]))[:2]
