"""Writing a task that failed for good to ``failed_jobs``: redacted, with Graph's code and a hint."""

from __future__ import annotations

from typing import Any

from models.db import transaction
from models.ops import FailedJob
from models.posts import SocialPost
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


def record_failed_job(*, task_name: str, task_id: str | None, args: list[Any], kwargs: dict[str, Any],
                      error: BaseException, tenant_id: str | None = None, post_id: str | None = None) -> str | None:
    code, hint = describe_error(error)
    try:
        with transaction() as session:
            if not isinstance(tenant_id, str) and isinstance(post_id, str):
                # A publish binds only the post id to its log context: attach the job to the post's tenant
                # too, so `socialcal jobs requeue --tenant` finds it.
                post = session.get(SocialPost, post_id)
                tenant_id = post.tenant_id if post is not None else None
            job = FailedJob(
                task_name=task_name[:100], task_id=task_id, args=redact(args), kwargs=redact(kwargs),
                error_class=type(error).__name__[:100], error_message=redact_text(str(error))[:4000] or type(error).__name__,
                error_code=code, hint=redact_text(hint) if hint else None,
                tenant_id=tenant_id if isinstance(tenant_id, str) else None,
                post_id=post_id if isinstance(post_id, str) else None,
            )
            session.add(job)
            session.flush()
            return job.id
    except Exception:
        # The database itself is down: the log line is then the only record, and it is redacted.
        log.exception("failed_job_not_recorded", task_name=task_name, task_id=task_id)
        return None
