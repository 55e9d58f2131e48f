"""Writing a task that failed for good to ``failed_jobs``: redacted, with Graph's code and a hint."""

from __future__ import annotations

from typing import Any

from models.base import new_id
from models.db import transaction
from models.ops import FailedJob
from models.posts import SocialPost
from tasks.domain.arguments import optional_uuid
from tasks.domain.untrusted import storable, storable_text
from worker.core.logging import get_logger
from worker.core.redaction import redact, redact_text

log = get_logger(__name__)
REDACT_DEPTH = 12


def describe_error(error: BaseException) -> tuple[str | None, str | None]:
    """(code, hint) for a Graph error, so the row says which Graph error and what to do."""
    code = getattr(error, "code", None)
    subcode = getattr(error, "subcode", None)
    hint = getattr(error, "hint", None)
    code_text = None if code is None else (f"{code}/{subcode}" if subcode else str(code))
    return code_text, hint


# Set on an exception whose failed_jobs row was written by the domain, in the same transaction as
# the failure it describes; the task's on_failure then does not write a second row.
RECORDED_ATTR = "socialcal_failed_job_id"


def failed_job_row(*, task_name: Any, task_id: Any, args: Any, kwargs: Any, error: BaseException,
                   tenant_id: Any = None, post_id: Any = None, error_class: str | None = None,
                   message: str | None = None, hint: str | None = None, raw_message: Any = None) -> FailedJob:
    """The row for ``error``, not yet added to any session, with its id already set.

    Everything here may come straight off the queue (a hostile task name, id or arguments of any JSON
    shape), so every value is redacted and then made ``storable``: the row is always accepted by
    SQLite and PostgreSQL, and what could not be kept as it was is escaped or cut, never dropped
    silently. ``error_class``/``message`` override the ones taken from ``error`` (a message Celery
    refused has no exception of ours).
    """
    code, graph_hint = describe_error(error)
    hint = hint or graph_hint
    name = storable_text(task_name if isinstance(task_name, str) and task_name else "unknown", 100)[:100]
    text = message if message is not None else str(error)
    return FailedJob(
        id=new_id(),
        task_name=name,
        task_id=storable_text(task_id, 64)[:64] if isinstance(task_id, str) and task_id else None,
        # redact() looks 12 levels deep; storable() keeps no more than that.
        args=storable(redact(args if isinstance(args, list) else [args] if args is not None else []),
                      max_depth=REDACT_DEPTH),
        kwargs=storable(redact(kwargs if isinstance(kwargs, dict) else {"[not a mapping]": kwargs}
                               if kwargs is not None else {}), max_depth=REDACT_DEPTH),
        error_class=storable_text(error_class or type(error).__name__, 100)[:100],
        error_message=storable_text(redact_text(text), 4000) or type(error).__name__,
        error_code=storable_text(code, 32)[:32] if code else None,
        hint=storable_text(redact_text(hint), 4000) if hint else None,
        tenant_id=optional_uuid(tenant_id), post_id=optional_uuid(post_id),
        raw_message=storable(redact(raw_message), max_depth=REDACT_DEPTH, max_text=4000)
        if raw_message is not None else None,
    )


def mark_recorded(error: BaseException, job_id: str) -> None:
    setattr(error, RECORDED_ATTR, job_id)


def recorded_job_id(error: BaseException) -> str | None:
    """The failed_jobs row the domain already wrote for ``error`` (None: nobody did yet)."""
    value = getattr(error, RECORDED_ATTR, None)
    return value if isinstance(value, str) else None


def record_failed_job(*, task_name: Any, task_id: Any, args: Any, kwargs: Any,
                      error: BaseException, tenant_id: Any = None, post_id: Any = None,
                      error_class: str | None = None, message: str | None = None,
                      hint: str | None = None, raw_message: Any = None) -> str | None:
    """Write one row in a transaction of its own (a task's on_failure, a message Celery refused);
    None when the database is down. A failure the domain already recorded is not written twice."""
    if recorded_job_id(error):
        return recorded_job_id(error)
    try:
        with transaction() as session:
            if not isinstance(tenant_id, str) and isinstance(post_id, str):
                # A publish binds only the post id to its log context: attach the job to the post's tenant
                # too, so `socialcal jobs requeue --tenant` finds it.
                post = session.get(SocialPost, post_id)
                tenant_id = post.tenant_id if post is not None else None
            job = failed_job_row(task_name=task_name, task_id=task_id, args=args, kwargs=kwargs, error=error,
                                 tenant_id=tenant_id, post_id=post_id, error_class=error_class, message=message,
                                 hint=hint, raw_message=raw_message)
            session.add(job)
            session.flush()
            return job.id
    except Exception:
        # The database itself is down: the log line is then the only record, and it is redacted.
        log.exception("failed_job_not_recorded", task_name=task_name, task_id=task_id)
        return None
