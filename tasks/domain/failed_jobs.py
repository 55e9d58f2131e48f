"""Writing a task that failed for good to ``failed_jobs``: redacted, with Graph's code and a hint."""

from __future__ import annotations

from typing import Any

from models.base import new_id
from models.db import transaction
from models.ops import FailedJob
from worker.core.logging import get_logger
from worker.core.redaction import redact, redact_text

log = get_logger(__name__)


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


def failed_job_row(*, task_name: str, task_id: str | None, args: list[Any], kwargs: dict[str, Any],
                   error: BaseException, tenant_id: str | None = None, post_id: str | None = None) -> FailedJob:
    """The (redacted) row for ``error``, not yet added to any session, with its id already set."""
    code, hint = describe_error(error)
    return FailedJob(
        id=new_id(), task_name=task_name[:100], task_id=task_id, args=redact(args), kwargs=redact(kwargs),
        error_class=type(error).__name__[:100], error_message=redact_text(str(error))[:4000] or type(error).__name__,
        error_code=code, hint=redact_text(hint) if hint else None,
        tenant_id=tenant_id if isinstance(tenant_id, str) else None,
        post_id=post_id if isinstance(post_id, str) else None,
    )


def mark_recorded(error: BaseException, job_id: str) -> None:
    setattr(error, RECORDED_ATTR, job_id)


def recorded_job_id(error: BaseException) -> str | None:
    """The failed_jobs row the domain already wrote for ``error`` (None: nobody did yet)."""
    value = getattr(error, RECORDED_ATTR, None)
    return value if isinstance(value, str) else None


def record_failed_job(*, task_name: str, task_id: str | None, args: list[Any], kwargs: dict[str, Any],
                      error: BaseException, tenant_id: str | None = None, post_id: str | None = None) -> str | None:
    """Write the row in a transaction of its own (the task's on_failure); None when the database is down."""
    if recorded_job_id(error):
        return recorded_job_id(error)
    try:
        with transaction() as session:
            job = failed_job_row(task_name=task_name, task_id=task_id, args=args, kwargs=kwargs, error=error,
                                 tenant_id=tenant_id, post_id=post_id)
            session.add(job)
            session.flush()
            return job.id
    except Exception:
        # The database itself is down: the log line is then the only record, and it is redacted.
        log.exception("failed_job_not_recorded", task_name=task_name, task_id=task_id)
        return None
