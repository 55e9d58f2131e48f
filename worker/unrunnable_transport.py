"""The Redis transport, guarded against list items that are not kombu messages at all.

A Celery client writes each message into the queue's Redis list as a kombu envelope (a JSON object
with ``body``, ``headers``, ``properties``…). Anything else pushed there — a bare body, a stray
string from a hand-written client — makes kombu's Redis channel raise inside the worker's event loop:
the solo pool dies ("Unrecoverable error") and a prefork consumer restarts with the item already
popped, so it is lost without a trace. ``GuardedRedisTransport`` (chosen by ``worker.app`` for a
``redis://`` broker) records such an item in ``failed_jobs`` (task "unknown", the raw item redacted
and cut) and carries on. Everything that *is* an envelope goes on to ``worker.unrunnable``'s checks.
"""

from __future__ import annotations

from typing import Any

from kombu.transport import redis as kombu_redis

from tasks.domain.failed_jobs import record_failed_job
from tasks.domain.untrusted import json_type, storable_text
from worker.core.logging import get_logger

log = get_logger(__name__)
RAW_ITEM_CHARS = 4000
HINT = ("Something wrote this item straight into the queue's Redis list without a Celery message envelope; "
        "send tasks with a Celery client (Celery protocol 2), never with a bare LPUSH.")


class MalformedEnvelope(Exception):
    def __init__(self, raw: Any, reason: str) -> None:
        super().__init__(reason)
        self.raw = raw


def record_malformed(raw: Any, reason: str, queue: str | None = None) -> None:
    text = raw if isinstance(raw, str) else None
    log.error("queue_item_not_a_message", reason=reason, queue=queue)
    record_failed_job(task_name="unknown", task_id=None, args=[], kwargs={}, error=MalformedEnvelope(raw, reason),
                      error_class="MalformedEnvelope", message=reason, hint=HINT,
                      raw_message={"queue": queue, "item": (text[:RAW_ITEM_CHARS] if text is not None else raw)})


class GuardedMessage(kombu_redis.Channel.Message):  # type: ignore[name-defined,misc]
    """kombu's message, refusing an envelope it cannot read with ``MalformedEnvelope`` (not any error)."""

    def __init__(self, payload: Any, channel: Any = None, **kwargs: Any) -> None:
        if not isinstance(payload, dict) or not isinstance(payload.get("properties"), dict):
            raise MalformedEnvelope(payload, f"the queue item (a JSON {json_type(payload)}) is not a Celery message envelope "
                                             "(an object with body, headers and properties)")
        try:
            super().__init__(payload, channel=channel, **kwargs)
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise MalformedEnvelope(payload, "the queue item is not a readable Celery message envelope "
                                             f"({type(error).__name__}: {storable_text(str(error), 120)})") from None


class GuardedChannel(kombu_redis.Channel):
    Message = GuardedMessage

    def _disconnect_pools(self) -> None:
        self._last_pool = self._pool or getattr(self, "_last_pool", None)  # for _create_client while closing
        super()._disconnect_pools()

    def _create_client(self, asynchronous: bool = False) -> Any:
        """One synchronous Redis client per connection pool, instead of a new one per command.

        kombu builds a ``redis.Redis`` object for every ack, every task event and every publish; with
        redis-py 6+ that construction (response-callback tables, observability hooks) cost more CPU
        than the Redis command it served: about a fifth of a worker's CPU per publish. A client
        object holds no connection of its own (each command takes one from the pool), so sharing it
        is safe across the pool's threads; a new pool (after a reconnect) gets a new client.
        """
        if asynchronous:
            return super()._create_client(asynchronous=True)
        if self._pool is None and getattr(self.connection, "client", None) is None:
            # Closing after a lost broker: kombu puts the unacknowledged messages back through a new
            # pool built from a connection that is already gone, and its AttributeError ended the
            # worker (kombu 5.7; a thread-pool worker nearly always holds unacked messages). The pool
            # it had still works: Redis back, the restore runs; Redis down, a ConnectionError that
            # the closing code ignores, and the worker reconnects as after any broker loss.
            last = getattr(self, "_last_pool", None)
            return self.Client(connection_pool=last) if last is not None else super()._create_client()
        pool = self.pool
        cached = getattr(self, "_sync_client", None)
        if cached is not None and cached[0] is pool:
            return cached[1]
        client = super()._create_client()
        self._sync_client = (pool, client)
        return client

    def _brpop_read(self, **options: Any) -> Any:
        try:
            return super()._brpop_read(**options)
        except (ValueError, RecursionError) as error:  # kombu's loads() of the popped item
            record_malformed(getattr(error, "doc", None), f"the queue item is not JSON ({type(error).__name__})")
            return True

    def _get(self, queue: str) -> Any:
        try:
            return super()._get(queue)
        except (ValueError, RecursionError) as error:
            record_malformed(getattr(error, "doc", None), f"the queue item is not JSON ({type(error).__name__})", queue)
            raise kombu_redis.Empty() from None


class GuardedRedisTransport(kombu_redis.Transport):
    Channel = GuardedChannel

    def _deliver(self, message: Any, queue: str) -> None:
        try:
            super()._deliver(message, queue)
        except MalformedEnvelope as refused:
            record_malformed(refused.raw, str(refused), queue)


__all__ = ["GuardedRedisTransport", "MalformedEnvelope"]
