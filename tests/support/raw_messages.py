"""Putting raw messages on the test broker, as a buggy or hostile caller in any language might.

``publish`` sends a protocol-2 message whose headers and body are exactly what the test says (no
Celery client fills anything in); ``push_item`` writes a raw item straight into a queue's Redis list,
without even a kombu envelope.
"""

from __future__ import annotations

import uuid
from typing import Any


def headers(task: Any = "publishing.publish_post", **overrides: Any) -> dict[str, Any]:
    """Protocol-2 headers as Celery writes them, with ``overrides`` applied (None values kept)."""
    base = {"lang": "py", "task": task, "id": str(uuid.uuid4()), "shadow": None, "eta": None, "expires": None,
            "group": None, "group_index": None, "retries": 0, "timelimit": [None, None], "root_id": None,
            "parent_id": None, "argsrepr": "", "kwargsrepr": "", "origin": "hostile-test", "ignore_result": True}
    base.update(overrides)
    return base


def publish(app: Any, body: bytes | str, message_headers: Any, *, queue: str = "default",
            content_type: str = "application/json") -> None:
    with app.producer_or_acquire() as producer:
        producer.publish(body, exchange="", routing_key=queue, headers=message_headers, content_type=content_type,
                         content_encoding="utf-8", serializer=None, declare=[], retry=True)


def push_item(redis_client: Any, item: bytes, queue: str = "default") -> None:
    redis_client.lpush(queue, item)
