"""The base class every socialcal task uses, and the helpers tasks share.

A task body is thin: it validates the ids in its (untrusted) message, opens one transaction with
``self.transaction()``, calls plain functions that hold the logic, and registers follow-up work with
``enqueue``, which sends only after the transaction commits. Log lines carry the task id and name
plus whatever ``bind`` adds (tenant id, post id). A task that raises is written to ``failed_jobs``
(redacted) so an operator can see why and replay it.
"""

from __future__ import annotations

import uuid
from contextlib import contextmanager
import time
from typing import Any, Iterator, NoReturn

import structlog
from celery import Task
from sqlalchemy.orm import Session

from models.db import after_commit, transaction
from worker.logging import get_logger
from worker.queues import AGENT_MESSAGE_NAMES, Queue

log = get_logger(__name__)


class BadMessage(ValueError):
    """A queue message that can never succeed (malformed id, wrong type). Failed, never retried."""


def require_uuid(value: Any, field: str) -> str:
    """Task arguments are untrusted: accept only a canonical UUID string."""
    if not isinstance(value, str):
        raise BadMessage(f"{field}: expected a UUID string, got {type(value).__name__}")
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise BadMessage(f"{field}: not a UUID") from None


def bind(**ids: Any) -> None:
    """Add ids (tenant_id, post_id, integration_id) to every later log line of this task."""
    structlog.contextvars.bind_contextvars(**{k: v for k, v in ids.items() if v is not None})


def enqueue(session: Session, task_name: str, *args: Any, countdown: float | None = None,
            queue: str | None = None, **kwargs: Any) -> None:
    """Send ``task_name`` once ``session`` commits (never for a rolled-back transaction)."""
    from worker.app import app

    options: dict[str, Any] = {}
    if countdown:
        options["countdown"] = countdown
    if queue:
        options["queue"] = queue
    after_commit(session, lambda: app.send_task(task_name, args=list(args), kwargs=kwargs, **options))


def send_to_agent(session: Session, queue: Queue, payload: dict[str, Any]) -> None:
    """Hand a payload to an outside agent's queue after commit."""
    enqueue(session, AGENT_MESSAGE_NAMES[queue], payload, queue=queue.value)


class SocialcalTask(Task):
    """One transaction per unit of work, log context per task, failures kept in ``failed_jobs``."""

    abstract = True
    # Celery checks each message's arguments against the signature before running the body.
    typing = True

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(task_id=self.request.id, task_name=self.name)
        return super().__call__(*args, **kwargs)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        with transaction() as session:
            yield session

    def on_failure(self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        from worker.failures import record_failed_job

        context = structlog.contextvars.get_contextvars()
        log.error("task_failed", error_class=type(exc).__name__, error=str(exc))
        record_failed_job(
            task_name=self.name, task_id=task_id, args=list(args or ()), kwargs=dict(kwargs or {}), error=exc,
            tenant_id=context.get("tenant_id"), post_id=context.get("post_id"),
        )

    # ------------------------------------------------------------------ retries by error class

    def transient_attempts(self) -> int:
        """Ordinary (transient) retries spent so far; rate-limit waits do not count."""
        value = self.request.kwargs.get("_transient_attempts", 0) if self.request.kwargs else 0
        return value if isinstance(value, int) and value >= 0 else 0

    def retry_for(self, error: BaseException, *, deadline: float | None = None,
                  integration_id: str | None = None) -> NoReturn:
        """Retry, wait or fail as ``worker.retry_policy`` decides for this error; never returns.

        Long waits are capped at the broker countdown limit and simply re-checked then (no Graph
        call is spent re-checking a paused budget); tasks that own a due time in the database
        (publishing) handle ``defer`` themselves before calling this.
        """
        from worker.retry_policy import broker_countdown, decide
        from worker.settings import get_settings

        settings = get_settings()
        attempts = self.transient_attempts()
        decision = decide(error, attempt=attempts, now=time.time(), deadline=deadline, settings=settings)
        log.info("retry_decision", action=decision.action, delay=round(decision.delay, 2), reason=decision.reason,
                 error_class=type(error).__name__)
        if decision.action == "reconnect":
            if integration_id:
                from tasks.integrations import mark_needs_reconnect

                mark_needs_reconnect(integration_id, error)
            raise error
        if decision.action == "fail":
            raise error
        countdown = broker_countdown(decision.delay, settings) or settings.max_broker_countdown_seconds
        kwargs = dict(self.request.kwargs or {})
        kwargs["_transient_attempts"] = attempts + (1 if decision.spends_attempt else 0)
        raise self.retry(exc=error, countdown=countdown, kwargs=kwargs, max_retries=None)
