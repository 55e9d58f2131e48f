"""Follow-up work and agent hand-offs, sent only once the current transaction commits.

The domain names tasks by their public names (``worker.core.queues.TaskName``) and sends through
Celery's *current* app, so it never imports the app module: whichever process runs the domain (a
worker, beat, the CLI, the demo) has loaded ``worker.app``, which makes itself the default app. A
process that has not is refused loudly rather than sending through Celery's built-in fallback app,
whose broker is not ours.

A send that fails once its transaction has committed (Redis down or restarting: kombu has already
retried the publish a few times) is not only logged: the message is kept in the ``outbox`` table and
``dispatch_due`` sends it again every minute until the broker takes it. That covers every kind of
follow-up alike (a publish wake-up, an edit to apply, a writer request, a fan-out wave), not only
those whose rows ``dispatch_due`` would find by their state. Only when the database refuses the
outbox row as well is the log line the last record.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from celery import current_app
from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from models import OutboxMessage, utcnow
from models.db import after_commit, transaction
from tasks.domain.contracts.messages import AGENT_MESSAGES
from worker.core.logging import get_logger
from worker.core.queues import AGENT_MESSAGE_NAMES, Queue

log = get_logger(__name__)

APP_MAIN = "socialcal"
OUTBOX_BATCH = 500


def _send(task_name: str, args: list[Any], kwargs: dict[str, Any], options: dict[str, Any]) -> None:
    app = current_app._get_current_object()
    if app.main != APP_MAIN:
        raise RuntimeError(f"cannot send {task_name}: the socialcal Celery app is not loaded in this process "
                           "(import worker.app first)")
    app.send_task(task_name, args=args, kwargs=kwargs, **options)


def send_now(task_name: str, *args: Any, countdown: float | None = None, queue: str | None = None,
             **kwargs: Any) -> None:
    """Send at once, outside any transaction (the caller has committed what the task will read)."""
    options: dict[str, Any] = {}
    if countdown:
        options["countdown"] = countdown
    if queue:
        options["queue"] = queue
    _send(str(task_name), list(args), kwargs, options)


def send_or_keep(task_name: str, *args: Any, countdown: float | None = None, queue: str | None = None,
                 **kwargs: Any) -> bool:
    """Send now; if the broker refuses, keep the message in the outbox. False when it was kept (or lost)."""
    try:
        send_now(task_name, *args, countdown=countdown, queue=queue, **kwargs)
        return True
    except Exception as error:  # noqa: BLE001 - whatever the broker raised, the message must not be lost
        _keep(str(task_name), list(args), kwargs, queue, countdown, error)
        return False


def _keep(task_name: str, args: list[Any], kwargs: dict[str, Any], queue: str | None, countdown: float | None,
          error: BaseException) -> None:
    not_before = utcnow() + timedelta(seconds=countdown) if countdown else None
    try:
        with transaction() as session:
            session.add(OutboxMessage(task_name=task_name, args=args, kwargs=kwargs, queue=queue,
                                      not_before=not_before, last_error=f"{type(error).__name__}: {error}"[:2000]))
        log.warning("send_failed_kept_in_outbox", task=task_name, error_class=type(error).__name__)
    except Exception:  # noqa: BLE001
        # Broker and database both down: this line is the only record (dispatch_due still finds
        # publish wake-ups by the posts' own state).
        log.exception("send_failed_and_not_kept", task=task_name, error_class=type(error).__name__)


def enqueue(session: Session, task_name: str, *args: Any, countdown: float | None = None,
            queue: str | None = None, **kwargs: Any) -> None:
    """Send ``task_name`` once ``session`` commits (never for a rolled-back transaction)."""
    after_commit(session, lambda: send_or_keep(task_name, *args, countdown=countdown, queue=queue, **kwargs))


def send_to_agent(session: Session, queue: Queue, payload: dict[str, Any]) -> None:
    """Hand a payload to an outside agent's queue after commit, stamped with its schema version
    (``schemas/messages/<message name>.json``, from ``tasks.domain.contracts.messages``)."""
    message = {**payload, "schema_version": AGENT_MESSAGES[queue].version}
    enqueue(session, AGENT_MESSAGE_NAMES[queue], message, queue=queue.value)


def resend_outbox(session: Session, now: datetime, *, limit: int = OUTBOX_BATCH) -> dict[str, int]:
    """Send what the outbox holds (oldest first), deleting each message the broker takes.

    Stops at the first refusal: the broker is still down, and the rest waits for the next sweep. A
    message sent whose deletion then fails to commit is sent again next time; every task is safe to
    run twice.
    """
    rows = session.scalars(
        select(OutboxMessage).where(or_(OutboxMessage.not_before.is_(None), OutboxMessage.not_before <= now))
        .order_by(OutboxMessage.created_at).limit(limit).with_for_update(skip_locked=True)).all()
    counts = {"outbox_sent": 0, "outbox_waiting": 0}
    sent: list[str] = []
    for row in rows:
        try:
            send_now(row.task_name, *list(row.args or []), queue=row.queue, **dict(row.kwargs or {}))
        except Exception as error:  # noqa: BLE001
            row.attempts += 1
            row.last_error = f"{type(error).__name__}: {error}"[:2000]
            counts["outbox_waiting"] = len(rows) - len(sent)
            log.warning("outbox_send_failed", task=row.task_name, error_class=type(error).__name__)
            break
        sent.append(row.id)
    if sent:
        session.execute(delete(OutboxMessage).where(OutboxMessage.id.in_(sent)))
    counts["outbox_sent"] = len(sent)
    return counts
