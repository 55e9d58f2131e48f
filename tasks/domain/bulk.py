"""Bulk operations for operators: requeue failed jobs, cancel or retry a tenant's posts, with a dry run.

Selection and action are apart: ``select_*`` counts what matches and returns the ids (at most
``limit``, oldest first) without changing anything, which is all ``--dry-run`` does; the ``*_each``
functions then act on those ids, one transaction per item, so one bad row never rolls back the rest
and a run stopped half-way leaves every item either done or untouched.

The rules are the single-item rules, never new ones: a failed publish is replayed exactly like
``jobs requeue`` (back to ``approved``, the gate re-checked, reconciliation before any resend, so
never twice on the Page); a post on the Page is cancelled by the ``publishing.cancel_post`` task, so
the Graph delete happens in a worker, with its budget and its retries. Every query is served by an
index: ``failed_jobs (task_name, error_class, created_at) WHERE status = 'failed'`` (open jobs), ``(tenant_id)``,
``(post_id)`` and ``social_posts (tenant_id, status)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Iterable

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from models import FailedJob, PostStatus, SocialPost
from models.db import transaction
from tasks.domain import post_changes
from tasks.domain.approval import lock_post
from tasks.domain.errors import BadMessage, TryLater
from tasks.domain.messaging import enqueue
from tasks.domain.ops_queries import OPEN_JOB
from tasks.domain.requeue import PUBLISH_TASK, requeue, return_to_approved
from worker.core.queues import TaskName

ON_PAGE = frozenset({PostStatus.SCHEDULED, PostStatus.PUBLISHED, PostStatus.PLATFORM_DRAFT})
CANCELLABLE = frozenset({PostStatus.PENDING_APPROVAL, PostStatus.APPROVED, PostStatus.INVALID, PostStatus.FAILED,
                         PostStatus.PUBLISHING, *ON_PAGE})
RETRYABLE = frozenset({PostStatus.FAILED})
DEFAULT_LIMIT = 1000


@dataclass
class Selection:
    """What a bulk command would act on: how many match, and the first ``limit`` ids (oldest first)."""

    count: int
    ids: list[str]
    statuses: dict[str, str] = field(default_factory=dict)  # post id -> status (posts only)

    def as_dict(self) -> dict[str, Any]:
        return {"count": self.count, "ids": self.ids, "selected": len(self.ids)}


@dataclass(frozen=True)
class JobFilter:
    task_name: str | None = None
    code: str | None = None
    tenant_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def conditions(self) -> list[Any]:
        where: list[Any] = [OPEN_JOB]  # open jobs only: the partial index of open jobs serves every filter
        if self.task_name:
            where.append(FailedJob.task_name == self.task_name)
        if self.code:  # "190" matches 190 and every 190/<subcode>
            where.append(or_(FailedJob.error_code == self.code, FailedJob.error_code.like(f"{self.code}/%")))
        if self.tenant_id:
            where.append(FailedJob.tenant_id == self.tenant_id)
        if self.since:
            where.append(FailedJob.created_at >= self.since)
        if self.until:
            where.append(FailedJob.created_at < self.until)
        return where


def select_jobs(session: Session, job_filter: JobFilter, *, limit: int = DEFAULT_LIMIT) -> Selection:
    where = job_filter.conditions()
    count = session.execute(select(func.count()).select_from(FailedJob).where(*where)).scalar() or 0
    ids = session.scalars(select(FailedJob.id).where(*where).order_by(FailedJob.created_at, FailedJob.id)
                          .limit(limit)).all()
    return Selection(int(count), list(ids))


def select_posts(session: Session, tenant_id: str, status: str, *, limit: int = DEFAULT_LIMIT) -> Selection:
    where = (SocialPost.tenant_id == tenant_id, SocialPost.status == status)
    count = session.execute(select(func.count()).select_from(SocialPost).where(*where)).scalar() or 0
    rows = session.execute(select(SocialPost.id, SocialPost.status).where(*where)
                           .order_by(SocialPost.scheduled_at, SocialPost.id).limit(limit)).all()
    return Selection(int(count), [r[0] for r in rows], {r[0]: r[1] for r in rows})


# ------------------------------------------------------------------------------------ acting

def requeue_each(job_ids: Iterable[str], *, actor: str = "operator") -> list[dict[str, Any]]:
    results = []
    for job_id in job_ids:
        try:
            with transaction() as session:
                result = requeue(session, job_id, actor=actor)
            results.append({"id": job_id, "done": result.sent, "note": result.note})
        except BadMessage as error:
            results.append({"id": job_id, "done": False, "note": str(error)})
    return results


def cancel_each(post_ids: Iterable[str], *, actor: str = "operator") -> list[dict[str, Any]]:
    """Cancel each post: at once when it is not on Facebook, else through ``publishing.cancel_post``."""
    results = []
    for post_id in post_ids:
        with transaction() as session:
            results.append(_cancel_one(session, post_id, actor))
    return results


def _cancel_one(session: Session, post_id: str, actor: str) -> dict[str, Any]:
    post = lock_post(session, post_id)
    if post.status not in CANCELLABLE:
        return {"id": post_id, "done": False, "note": f"post is {post.status}; nothing to cancel"}
    if post.status in ON_PAGE or post.status == PostStatus.PUBLISHING or post.external_id:
        # The Graph delete belongs in a worker (budget, retries); a publish in flight finishes first.
        enqueue(session, TaskName.CANCEL_POST, post.id)
        return {"id": post_id, "done": True, "note": "sent publishing.cancel_post (deleted from the Page by a worker)"}
    try:
        post_changes.cancel_post(session, post.id)  # not on Facebook: no Graph call is made
    except TryLater:
        enqueue(session, TaskName.CANCEL_POST, post.id)
        return {"id": post_id, "done": True, "note": "being published; sent publishing.cancel_post"}
    return {"id": post_id, "done": True, "note": f"cancelled by {actor}"}


def retry_each(post_ids: Iterable[str], *, actor: str = "operator") -> list[dict[str, Any]]:
    """Replay each failed post by the requeue rules (its open failed publish job, when there is one)."""
    results = []
    for post_id in post_ids:
        with transaction() as session:
            job_id = session.scalars(select(FailedJob.id).where(
                FailedJob.post_id == post_id, FailedJob.task_name == PUBLISH_TASK, FailedJob.status == "failed")
                .order_by(FailedJob.created_at.desc()).limit(1)).first()
            if job_id is not None:
                result = requeue(session, job_id, actor=actor)
                results.append({"id": post_id, "done": result.sent, "note": f"{result.note} (job {job_id})"})
                continue
            post = lock_post(session, post_id)
            if post.status not in RETRYABLE:
                results.append({"id": post_id, "done": False, "note": f"post is {post.status}; nothing to retry"})
                continue
            return_to_approved(session, post, actor=actor)
            enqueue(session, PUBLISH_TASK, post.id)
            results.append({"id": post_id, "done": True, "note": "sent"})
    return results
