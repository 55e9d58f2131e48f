"""Operators' replay of failed work (``socialcal jobs requeue`` and the ``ops.requeue_failed`` task).

Replaying a failed publish returns the post to ``approved`` and lets ``publish_post`` run the whole
gate again; the claim makes a double replay harmless (only one claim can win, and a post already on
the Page is never claimed again).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from models import FailedJob, PostStatus, SocialPost, utcnow
from tasks.domain.errors import BadMessage
from tasks.domain.events import record_event
from tasks.domain.messaging import enqueue
from worker.core.queues import TASK_NAMES, TaskName

PUBLISH_TASK = TaskName.PUBLISH_POST.value


@dataclass(frozen=True)
class RequeueResult:
    job_id: str
    task_name: str
    sent: bool
    note: str


def requeue(session: Session, job_id: str, *, actor: str = "operator") -> RequeueResult:
    job = session.get(FailedJob, job_id, with_for_update=True)
    if job is None:
        raise BadMessage(f"no failed job {job_id}")
    if job.task_name not in TASK_NAMES:
        raise BadMessage(f"{job.task_name} is not a socialcal task; it cannot be replayed")
    job.status, job.requeue_count, job.requeued_at = "requeued", job.requeue_count + 1, utcnow()
    if job.task_name == PUBLISH_TASK and job.post_id:
        post = session.get(SocialPost, job.post_id, with_for_update=True)
        if post is None:
            return RequeueResult(job.id, job.task_name, False, "the post no longer exists")
        if post.status != PostStatus.FAILED:
            return RequeueResult(job.id, job.task_name, False, f"post is {post.status}; nothing to replay")
        return_to_approved(session, post, actor=actor, failed_job_id=job.id)
    enqueue(session, job.task_name, *list(job.args or []), **dict(job.kwargs or {}))
    return RequeueResult(job.id, job.task_name, True, "sent")


def return_to_approved(session: Session, post: SocialPost, *, actor: str, failed_job_id: str | None = None) -> None:
    """A failed post goes back to ``approved``, due now, with a fresh attempt count.

    Its approval (who, the hash) and everything publishing stored (Graph ids, an in-flight mark) stay,
    so the gate is checked again and an unknown earlier outcome is reconciled before anything is sent.
    The caller sends ``publish_post`` after commit.
    """
    post.status = PostStatus.APPROVED
    post.due_at, post.enqueued_at, post.last_error = utcnow(), utcnow(), None
    post.attempts = 0
    intent = dict(post.publish_intent or {})
    intent.pop("transient_attempts", None)
    post.publish_intent = intent
    record_event(session, post, "requeued", actor=actor, failed_job_id=failed_job_id)
