"""Follow-up work and agent hand-offs, sent only once the current transaction commits.

The domain names tasks by their public names (``worker.core.queues.TaskName``) and sends through
Celery's *current* app, so it never imports the app module: whichever process runs the domain (a
worker, beat, the CLI, the demo) has loaded ``worker.app``, which makes itself the default app. A
process that has not is refused loudly rather than sending through Celery's built-in fallback app,
whose broker is not ours.
"""

from __future__ import annotations

from typing import Any

from celery import current_app
from sqlalchemy.orm import Session

from models.db import after_commit
from tasks.domain.contracts.messages import AGENT_MESSAGES
from worker.core.queues import AGENT_MESSAGE_NAMES, Queue

APP_MAIN = "socialcal"


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


def enqueue(session: Session, task_name: str, *args: Any, countdown: float | None = None,
            queue: str | None = None, **kwargs: Any) -> None:
    """Send ``task_name`` once ``session`` commits (never for a rolled-back transaction)."""
    after_commit(session, lambda: send_now(task_name, *args, countdown=countdown, queue=queue, **kwargs))


def send_to_agent(session: Session, queue: Queue, payload: dict[str, Any]) -> None:
    """Hand a payload to an outside agent's queue after commit, stamped with its schema version
    (``schemas/messages/<message name>.json``, from ``tasks.domain.contracts.messages``)."""
    message = {**payload, "schema_version": AGENT_MESSAGES[queue].version}
    enqueue(session, AGENT_MESSAGE_NAMES[queue], message, queue=queue.value)
