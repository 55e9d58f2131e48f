"""Queue messages Celery cannot run, kept in ``failed_jobs`` where an operator sees them.

Celery (5.x) has several places where a message it cannot run ends as a log line only, and some
where it takes the worker down:

* ``Consumer.on_decode_error`` (body not decodable) logs and acks; there is no signal for it.
* ``on_unknown_message`` / ``on_invalid_task`` (no task header; bad ETA, args/kwargs of the wrong
  shape, content type not accepted) log, reject and send ``task_rejected``.
* ``on_unknown_task`` (a task name no worker registered) logs, rejects and sends ``task_unknown``.
* Keyword arguments that are not a mapping fail in the tracer *outside* the task body
  (``InvalidTaskError``, ``task_internal_error``): the message is acked as if it had run.
* A body that is JSON but not ``[args, kwargs, embed]``, or headers without an ``id``, raise inside
  the consumer's message callback: the solo pool dies ("Unrecoverable error") and the prefork
  consumer restarts its connection and receives the same message again, forever (a poison message).

``GuardedConsumer`` (set as ``worker_consumer`` in ``worker.app``) is the one place that closes them:
before Celery's own handler sees a message it checks the protocol-2 envelope (headers, a JSON body
``[args, kwargs, embed]``, a registered task name), and any message that fails — or that still
makes Celery's handler raise — becomes a ``failed_jobs`` row with the task name (or "unknown"), an
error class, a plain reason and the redacted raw message, and is acknowledged so it never loops.
Celery's own refusal hooks record too (for anything the check lets through), and
``task_internal_error`` records errors raised outside a task body. Argument *values* are the
contracts' job (``tasks.domain.contracts``, checked in ``SocialcalTask.__call__``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Callable

from celery import signals
from celery.worker.consumer import Consumer

from tasks.domain.failed_jobs import record_failed_job
from tasks.domain.untrusted import json_type, storable_text
from worker.core.logging import get_logger

log = get_logger(__name__)

ACCEPTED_CONTENT = ("application/json",)
TEXT_HEADERS = ("lang", "shadow", "root_id", "parent_id", "group", "argsrepr", "kwargsrepr", "origin")
WORKFLOW_FIELDS = ("callbacks", "errbacks", "chain", "chord", "group")
RAW_BODY_CHARS = 4000
HINT = ("This message can never run as sent, so it was taken off the queue and kept here; fix the sender "
        "(schemas/tasks/<task>.json describes every task's arguments) and send it again.")


class Unrunnable(Exception):
    """Why a message cannot run; ``kind`` is the error class stored in ``failed_jobs``."""

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind


# ----------------------------------------------------------------------------- the envelope check

def _text_or_none(headers: dict[str, Any], name: str) -> None:
    value = headers.get(name)
    if value is not None and not isinstance(value, str):
        raise Unrunnable("MalformedMessage", f"header {name} must be text or null, got {json_type(value)}")


def _time_or_none(headers: dict[str, Any], name: str) -> None:
    value = headers.get(name)
    if value is None:
        return
    if not isinstance(value, str):
        raise Unrunnable("MalformedMessage", f"header {name} must be an ISO 8601 time or null, got {json_type(value)}")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        if parsed.tzinfo is not None:
            parsed.timestamp()
    except (ValueError, OverflowError):
        raise Unrunnable("MalformedMessage", f"header {name} is not an ISO 8601 time") from None


def check_headers(headers: Any) -> tuple[str, str]:
    """The (task name, task id) of protocol-2 headers Celery can use, or ``Unrunnable``."""
    if not isinstance(headers, dict):
        raise Unrunnable("MalformedMessage", f"the message headers must be an object, got {json_type(headers)}")
    task, task_id = headers.get("task"), headers.get("id")
    if not isinstance(task, str) or not task.strip():
        raise Unrunnable("MalformedMessage", f"header task must name a task, got {json_type(task)}")
    if not isinstance(task_id, str) or not task_id.strip():
        raise Unrunnable("MalformedMessage", f"header id must be the task id (text), got {json_type(task_id)}")
    for name in TEXT_HEADERS:
        _text_or_none(headers, name)
    _time_or_none(headers, "eta")
    _time_or_none(headers, "expires")
    retries = headers.get("retries")
    if retries is not None and (isinstance(retries, bool) or not isinstance(retries, int) or retries < 0):
        raise Unrunnable("MalformedMessage", f"header retries must be a whole number >= 0, got {json_type(retries)}")
    limits = headers.get("timelimit")
    if limits is not None and not (isinstance(limits, (list, tuple)) and len(limits) == 2 and all(
            limit is None or (isinstance(limit, (int, float)) and not isinstance(limit, bool) and limit >= 0)
            for limit in limits)):
        raise Unrunnable("MalformedMessage", "header timelimit must be [soft, hard] seconds (numbers or null)")
    if headers.get("ignore_result") not in (None, True, False):
        raise Unrunnable("MalformedMessage", "header ignore_result must be true, false or null")
    if headers.get("stamped_headers") is not None and not isinstance(headers["stamped_headers"], list):
        raise Unrunnable("MalformedMessage", "header stamped_headers must be a list or null")
    if headers.get("stamps") is not None and not isinstance(headers["stamps"], dict):
        raise Unrunnable("MalformedMessage", "header stamps must be an object or null")
    return task, task_id


def decode_body(message: Any) -> Any:
    """The JSON body, or ``Unrunnable`` saying why it cannot be read."""
    if message.content_type not in ACCEPTED_CONTENT:
        raise Unrunnable("ContentDisallowed", f"content type {storable_text(str(message.content_type), 60)!r} "
                                              "is not accepted; socialcal takes application/json")
    try:
        return message.decode()
    except RecursionError:
        raise Unrunnable("UndecodableBody", "the body nests lists and objects too deeply to read") from None
    except Exception as error:  # kombu's DecodeError, or ValueError for an integer too long to read
        cause = error.__cause__ or error.__context__ or error
        raise Unrunnable("UndecodableBody",
                         f"the body is not JSON ({storable_text(str(cause).splitlines()[0], 160)})") from None


def check_body(body: Any) -> tuple[list[Any], dict[str, Any]]:
    """(args, kwargs) of a protocol-2 body ``[args, kwargs, embed]``, or ``Unrunnable``."""
    if not isinstance(body, (list, tuple)) or len(body) != 3:
        raise Unrunnable("MalformedMessage", "the body must be [args, kwargs, embed] (Celery protocol 2), got "
                                             + (f"a list of {len(body)}" if isinstance(body, list) else json_type(body)))
    args, kwargs, embed = body
    if not isinstance(args, (list, tuple)):
        raise Unrunnable("InvalidArguments", f"args must be a list, got {json_type(args)}")
    if not isinstance(kwargs, dict):
        raise Unrunnable("InvalidArguments", f"kwargs must be an object, got {json_type(kwargs)}")
    if embed is not None and not isinstance(embed, dict):
        raise Unrunnable("MalformedMessage", f"embed (the body's third item) must be an object, got {json_type(embed)}")
    for name in WORKFLOW_FIELDS:
        if (embed or {}).get(name):
            raise Unrunnable("MalformedMessage", f"embed.{name} is set: socialcal tasks take no callbacks, chains, "
                                                 "chords or groups")
    return list(args), kwargs


def check_message(message: Any, registered: Callable[[str], bool]) -> None:
    """Raise ``Unrunnable`` unless Celery can hand this message to a task body."""
    headers = message.headers
    if isinstance(headers, dict) and "task" not in headers and "id" not in headers:
        body = decode_body(message)  # protocol 1: everything is in the body
        if not isinstance(body, dict):
            raise Unrunnable("MalformedMessage", "the message has no task header (Celery protocol 2 puts the task "
                                                 "name and id in the headers)")
        task, _task_id = check_headers(body)
        if not isinstance(body.get("args", []), (list, tuple)) or not isinstance(body.get("kwargs", {}), dict):
            raise Unrunnable("InvalidArguments", "args must be a list and kwargs an object")
    else:
        task, _task_id = check_headers(headers)
        check_body(decode_body(message))
    if not registered(task):
        raise Unrunnable("UnknownTask", f"no socialcal worker runs a task named {storable_text(task, 100)!r}")


# ----------------------------------------------------------------------------- recording

def raw_message(message: Any, body: Any = None) -> dict[str, Any]:
    """What arrived, for the row (``record_failed_job`` redacts, escapes and cuts it)."""
    if body is None:
        raw = getattr(message, "body", None)
        body = raw.decode("utf-8", "replace")[:RAW_BODY_CHARS] if isinstance(raw, bytes) else raw
        if isinstance(body, str) and len(body) >= RAW_BODY_CHARS:
            body += "...[cut]"
    delivery = getattr(message, "delivery_info", None) or {}
    return {"headers": getattr(message, "headers", None), "body": body,
            "content_type": getattr(message, "content_type", None),
            "content_encoding": getattr(message, "content_encoding", None),
            "routing_key": delivery.get("routing_key"), "exchange": delivery.get("exchange")}


def _parts(message: Any) -> tuple[Any, Any, Any, Any, Any]:
    """(task name, task id, args, kwargs, decoded body) as far as they can be read."""
    headers = message.headers if isinstance(message.headers, dict) else {}
    try:
        body = message.decode() if message.content_type in ACCEPTED_CONTENT else None
    except Exception:
        body = None
    if not headers.get("task") and isinstance(body, dict):  # protocol 1
        return body.get("task"), body.get("id"), body.get("args"), body.get("kwargs"), body
    args = kwargs = None
    if isinstance(body, (list, tuple)) and len(body) == 3:
        args, kwargs = body[0], body[1]
    return headers.get("task"), headers.get("id"), args, kwargs, body


def record_unrunnable(message: Any, kind: str, reason: str) -> str | None:
    """One ``failed_jobs`` row for a message that cannot run; returns its id (None if not stored)."""
    task, task_id, args, kwargs, body = _parts(message)
    log.error("message_not_runnable", error_class=kind, reason=reason,
              task_name=task if isinstance(task, str) else "unknown")
    return record_failed_job(task_name=task, task_id=task_id, args=args, kwargs=kwargs, error=Unrunnable(kind, reason),
                             error_class=kind, message=reason, hint=HINT,
                             raw_message=raw_message(message, body))


def _settle(message: Any) -> None:
    """Take the message off the queue (once): it can never run, and its row is the record."""
    try:
        if not message.acknowledged:
            message.ack()
    except Exception:
        log.warning("unrunnable_message_not_acked", exc_info=True)


class GuardedConsumer(Consumer):
    """Celery's consumer, with every message checked before it is handed on (see module docstring)."""

    def create_task_handler(self, *args: Any, **kwargs: Any) -> Callable[[Any], Any]:
        handle = super().create_task_handler(*args, **kwargs)
        connection_errors = tuple(self.connection_errors or ())
        registered = self.app.tasks.__contains__

        def on_task_received(message: Any) -> Any:
            try:
                check_message(message, registered)
            except Unrunnable as refused:
                record_unrunnable(message, refused.kind, str(refused))
                return _settle(message)
            try:
                return handle(message)
            except connection_errors:
                raise  # the broker went away: Celery reconnects and the message comes back
            except Exception as error:  # Celery's own handler could not take it: never the worker's end
                record_unrunnable(message, type(error).__name__,
                                  f"Celery could not run this message: {storable_text(str(error), 300)}")
                return _settle(message)

        return on_task_received

    def on_decode_error(self, message: Any, exc: Exception) -> None:
        record_unrunnable(message, "UndecodableBody", f"the body cannot be decoded: {storable_text(str(exc), 300)}")
        super().on_decode_error(message, exc)

    def on_unknown_message(self, body: Any, message: Any) -> None:
        record_unrunnable(message, "MalformedMessage", "the message is not a Celery task message")
        super().on_unknown_message(body, message)

    def on_unknown_task(self, body: Any, message: Any, exc: Exception) -> None:
        record_unrunnable(message, "UnknownTask", "no socialcal worker runs this task")
        super().on_unknown_task(body, message, exc)

    def on_invalid_task(self, body: Any, message: Any, exc: Exception) -> None:
        record_unrunnable(message, type(exc).__name__, f"Celery refused the message: {storable_text(str(exc), 300)}")
        super().on_invalid_task(body, message, exc)


@signals.task_internal_error.connect
def _record_internal_error(sender: Any = None, task_id: Any = None, args: Any = None, kwargs: Any = None,
                           request: Any = None, exception: BaseException | None = None, **_: Any) -> None:
    """An error outside the task body (Celery's tracer): the task never ran, so ``on_failure`` did not."""
    error = exception or RuntimeError("internal error")
    record_failed_job(task_name=getattr(sender, "name", None), task_id=task_id, args=args, kwargs=kwargs,
                      error=error, message=f"Celery could not run this task: {storable_text(str(error), 300)}",
                      hint=HINT)

