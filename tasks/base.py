"""The base class every socialcal task uses: the shell around one call into ``tasks.domain``.

A task body is thin and always the same shape: it receives arguments already checked against the
task's contract (``tasks.domain.contracts``: ``__call__`` binds the untrusted message's args and
kwargs to the task's model before the body runs, and a message that does not fit fails at once with
plain reasons), opens one transaction with ``self.transaction()``, calls the domain, and maps what the
domain raises to retry or fail (``retry_for``). Log lines carry the task id and name
plus whatever the domain binds (tenant id, post id). A task that raises is written to ``failed_jobs``
(redacted) so an operator can see why and replay it.
"""

from __future__ import annotations

import random
import time
from contextlib import contextmanager
from typing import Any, Iterator, NoReturn

from celery import Task
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session

from models.db import transaction
from tasks.domain.contracts import bind
from tasks.domain.errors import TryLater
from tasks.domain.failed_jobs import record_failed_job
from tasks.domain.integrations import mark_needs_reconnect
from tasks.domain.retry_policy import broker_countdown, decide
from worker.core.logging import clear_log_context, get_logger, log_context
from worker.core.settings import get_settings

log = get_logger(__name__)

# Retries of a task whose database was unreachable (backoff 1, 2, 4 ... 60 s: about eight minutes).
DATABASE_RETRIES = 12
DATABASE_RETRY_CAP_SECONDS = 60.0


class SocialcalTask(Task):
    """One transaction per unit of work, log context per task, failures kept in ``failed_jobs``."""

    abstract = True
    # Python callers' apply_async checks arguments against the shell's signature; messages from the
    # queue are checked against the contract in __call__ (what arrives may come from any language).
    typing = True

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        clear_log_context(task_id=self.request.id, task_name=self.name)
        arguments = bind(self.name, args, kwargs)  # BadMessage with plain reasons: failed at once, kept
        try:
            return super().__call__(**arguments.call_kwargs())
        except TryLater as wait:
            raise self.retry(exc=wait, countdown=wait.countdown, max_retries=wait.max_retries) from None
        except (OperationalError, InterfaceError) as error:
            # The database went away (a restart, a failover, a dropped connection). The transaction
            # rolled back whole, so the task is simply run again once the database is back; the pool
            # replaces the dead connections (a disconnect invalidates it; idle ones are pinged at
            # checkout: models.db). Only when it stays away is this a failure.
            retries = self.request.retries or 0
            if retries >= DATABASE_RETRIES:
                raise
            countdown = min(DATABASE_RETRY_CAP_SECONDS, 2.0 ** retries) * random.uniform(0.5, 1.0)
            log.warning("database_unavailable_retry", error_class=type(error.orig or error).__name__,
                        retry=retries + 1, countdown=round(countdown, 1))
            raise self.retry(exc=error, countdown=countdown, max_retries=DATABASE_RETRIES) from None

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        with transaction() as session:
            yield session

    def on_failure(self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        context = log_context()
        log.error("task_failed", error_class=type(exc).__name__, error=str(exc))
        record_failed_job(
            task_name=self.name, task_id=task_id, args=args, kwargs=kwargs, error=exc,
            tenant_id=context.get("tenant_id"), post_id=context.get("post_id"),
        )

    # ------------------------------------------------------------------ retries by error class

    def transient_attempts(self) -> int:
        """Ordinary (transient) retries spent so far; rate-limit waits do not count."""
        value = self.request.kwargs.get("_transient_attempts", 0) if self.request.kwargs else 0
        return value if isinstance(value, int) and value >= 0 else 0

    def retry_for(self, error: BaseException, *, deadline: float | None = None,
                  integration_id: str | None = None) -> NoReturn:
        """Retry, wait or fail as ``tasks.domain.retry_policy`` decides for this error; never returns.

        Long waits are capped at the broker countdown limit and simply re-checked then (no Graph
        call is spent re-checking a paused budget); tasks that own a due time in the database
        (publishing) handle ``defer`` in the domain instead.
        """
        settings = get_settings()
        attempts = self.transient_attempts()
        decision = decide(error, attempt=attempts, now=time.time(), deadline=deadline, settings=settings)
        log.info("retry_decision", action=decision.action, delay=round(decision.delay, 2), reason=decision.reason,
                 error_class=type(error).__name__)
        if decision.action == "reconnect":
            if integration_id:
                mark_needs_reconnect(integration_id, error)
            raise error
        if decision.action == "fail":
            raise error
        countdown = broker_countdown(decision.delay, settings) or settings.max_broker_countdown_seconds
        kwargs = dict(self.request.kwargs or {})
        kwargs["_transient_attempts"] = attempts + (1 if decision.spends_attempt else 0)
        raise self.retry(exc=error, countdown=countdown, kwargs=kwargs, max_retries=None)
