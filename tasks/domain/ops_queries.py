"""What an operator needs to know, read from the database and Redis: one function per question.

``socialcal status`` and the state exporter (``tasks.domain.state_metrics``) ask the same questions,
so both read them here. Every database query is served by an index, so each stays cheap on a table
of millions of rows (``models/migrations/versions/0004_issue16_ops_indexes.py`` says which), and
every listing is capped. Nothing returned carries a token: tokens are decrypted only to compute their
budget fingerprint, which is what the budget keys name.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Iterable

import redis
from sqlalchemy import func, literal_column, select
from sqlalchemy.orm import Session

from graph.budget import APP_SCOPE, GraphBudget, page_scope, token_scope
from graph.client import token_fingerprint
from models import FailedJob, Integration, IntegrationStatus, PageInsight, PostStatus, SocialPost
from models.crypto import TokenCipher
from worker.core.queues import AGENT_QUEUES, WORKER_QUEUES

# kombu's Redis transport keeps a queue's messages of priority p > 0 in "<queue>\x06\x16<p>".
PRIORITY_SEPARATOR = "\x06\x16"
PRIORITY_STEPS = (0, 3, 6, 9)
UNACKED_KEY = "unacked"
HANDOFF_STATUSES = (PostStatus.APPROVED.value, PostStatus.PUBLISHING.value)
# "status = 'failed'" written out, not bound: only then can SQLite match the partial index on open jobs.
OPEN_JOB = FailedJob.status == literal_column("'failed'")
LISTING_LIMIT = 50
BUDGETED_STATUSES = (IntegrationStatus.ACTIVE.value, IntegrationStatus.NEEDS_RECONNECT.value)


def queue_names() -> list[str]:
    return [q.value for q in (*WORKER_QUEUES, *AGENT_QUEUES)]


def queue_depths(broker: redis.Redis) -> dict[str, int]:
    """Messages waiting in each socialcal queue (all priority lists), plus ``unacked``: delivered to a
    worker (running, or held for a countdown) and not yet acknowledged. One round trip."""
    names = queue_names()
    pipe = broker.pipeline(transaction=False)
    for name in names:
        for step in PRIORITY_STEPS:
            pipe.llen(name if step == 0 else f"{name}{PRIORITY_SEPARATOR}{step}")
    pipe.hlen(UNACKED_KEY)
    lengths = pipe.execute()
    depths = {name: sum(lengths[i * len(PRIORITY_STEPS):(i + 1) * len(PRIORITY_STEPS)])
              for i, name in enumerate(names)}
    depths["unacked"] = int(lengths[-1])
    return depths


# ------------------------------------------------------------------------------------ failures

def open_failed_jobs(session: Session) -> list[dict[str, Any]]:
    """Failed jobs nobody has requeued yet, by task and error class (read from the partial index of
    open jobs alone)."""
    rows = session.execute(select(FailedJob.task_name, FailedJob.error_class, func.count()).where(OPEN_JOB)
                           .group_by(FailedJob.task_name, FailedJob.error_class))
    return [{"task_name": t, "error_class": c, "count": int(n)} for t, c, n in rows]


def failures_since(session: Session, since: datetime) -> list[dict[str, Any]]:
    """Failures recorded since ``since`` (requeued or not), by task, error class and Graph code, most
    frequent first, each with one of its hints. The counts come from the covering index on
    (created_at, task_name, error_class, error_code); one hint per kind is then one more probe."""
    count = func.count().label("count")
    kinds = session.execute(
        select(FailedJob.task_name, FailedJob.error_class, FailedJob.error_code, count, func.max(FailedJob.created_at))
        .where(FailedJob.created_at >= since)
        .group_by(FailedJob.task_name, FailedJob.error_class, FailedJob.error_code)
        .order_by(count.desc()).limit(LISTING_LIMIT)).all()
    found = []
    for task, error_class, code, n, last in kinds:
        same_code = FailedJob.error_code.is_(None) if code is None else FailedJob.error_code == code
        hint = session.execute(select(FailedJob.hint).where(
            FailedJob.created_at >= since, FailedJob.task_name == task, FailedJob.error_class == error_class, same_code,
            FailedJob.hint.is_not(None)).limit(1)).scalar()
        found.append({"task_name": task, "error_class": error_class, "error_code": code, "count": int(n),
                      "hint": hint, "last_at": last})
    return found


# ------------------------------------------------------------------------------------ Pages

def integrations_by_status(session: Session) -> dict[str, int]:
    """Facebook integrations by status (index: provider, status)."""
    rows = session.execute(select(Integration.status, func.count()).where(Integration.provider == "facebook")
                           .group_by(Integration.status))
    return {status: int(n) for status, n in rows}


def needs_reconnect(session: Session) -> list[dict[str, Any]]:
    rows = session.scalars(select(Integration).where(Integration.provider == "facebook",
                                                     Integration.status == IntegrationStatus.NEEDS_RECONNECT)
                           .order_by(Integration.updated_at.desc()).limit(LISTING_LIMIT))
    return [{"integration_id": i.id, "tenant_id": i.tenant_id, "page_id": i.page_id,
             "page_name": i.meta.get("pageName"), "reason": i.status_reason, "since": i.updated_at} for i in rows]


def budgeted_integrations(session: Session) -> list[Integration]:
    """Connected Pages whose budget and pauses are worth showing (active or awaiting reconnect)."""
    rows = session.scalars(select(Integration).where(Integration.provider == "facebook",
                                                     Integration.status.in_(BUDGETED_STATUSES))
                           .order_by(Integration.tenant_id, Integration.id))
    return list(rows)


@dataclass(frozen=True)
class PageBudget:
    integration_id: str
    tenant_id: str
    page_id: str
    status: str
    calls_in_window: int | None
    capacity: int
    paused: dict[str, float]  # scope kind (token, page) -> seconds left
    error: str | None = None


def page_budgets(integrations: Iterable[Integration], budget: GraphBudget, cipher: TokenCipher,
                 now: float) -> list[PageBudget]:
    """Each Page's calls in the current window and the pauses in force on its token and Page (one
    Redis round trip for all of them)."""
    found: list[PageBudget] = []
    readable: list[tuple[Integration, str]] = []
    for integration in integrations:
        try:
            readable.append((integration, token_fingerprint(cipher.decrypt(integration.api_key))))
        except Exception:  # noqa: BLE001 - a bad ciphertext is one Page's problem, said in words
            found.append(PageBudget(integration.id, integration.tenant_id, integration.page_id, integration.status,
                                    None, budget.shape.capacity, {},
                                    "the token cannot be decrypted with SOCIALCAL_ENCRYPTION_KEYS"))
    states = budget.peek_many([(token_key, integration.page_id) for integration, token_key in readable], now=now)
    for (integration, token_key), state in zip(readable, states):
        scopes = {token_scope(token_key): "token", page_scope(integration.page_id): "page"}
        paused = {scopes[s]: round(until - now, 1) for s, until in state["paused_until"].items() if s in scopes}
        found.append(PageBudget(integration.id, integration.tenant_id, integration.page_id, integration.status,
                                int(state["calls_in_window"]), int(state["capacity"]), paused))
    return found


def app_pause_seconds(budget: GraphBudget, now: float) -> float | None:
    until = budget.paused_until(APP_SCOPE, now=now)
    return None if until is None else round(until - now, 1)


def insight_pull_ages(session: Session, now: datetime) -> dict[str, float]:
    """Seconds since each budgeted integration's last insights pull (since it was connected when never
    pulled), in one statement: a correlated max() per Page, each one probe of ``page_insights
    (integration_id, fetched_at)`` (no GROUP BY over every insight row)."""
    last = (select(func.max(PageInsight.fetched_at)).where(PageInsight.integration_id == Integration.id)
            .correlate(Integration).scalar_subquery())
    rows = session.execute(select(Integration.id, Integration.created_at, last).where(
        Integration.provider == "facebook", Integration.status.in_(BUDGETED_STATUSES)))
    return {integration_id: max(0.0, (now - (pulled or created)).total_seconds())
            for integration_id, created, pulled in rows}


# ------------------------------------------------------------------------------------ posts

def awaiting_handoff(session: Session, now: datetime, *, within: timedelta = timedelta(hours=1),
                     limit: int = LISTING_LIMIT) -> dict[str, Any]:
    """Approved posts whose slot is within ``within`` (or past) that are not on Facebook yet, and the
    posts still waiting for a person's approval in that hour (index: status, scheduled_at)."""
    horizon = now + within
    handoff = (SocialPost.status.in_(HANDOFF_STATUSES), SocialPost.scheduled_at <= horizon)
    overdue = session.execute(select(func.count()).where(*handoff, SocialPost.scheduled_at < now)).scalar() or 0
    total = session.execute(select(func.count()).where(*handoff)).scalar() or 0
    unapproved = session.execute(select(func.count()).where(
        SocialPost.status == PostStatus.PENDING_APPROVAL, SocialPost.scheduled_at >= now,
        SocialPost.scheduled_at <= horizon)).scalar() or 0
    posts = (session.scalars(select(SocialPost).where(*handoff).order_by(SocialPost.scheduled_at).limit(limit))
             if limit > 0 else [])
    return {
        "count": int(total), "overdue": int(overdue), "pending_approval": int(unapproved),
        "posts": [{"post_id": p.id, "tenant_id": p.tenant_id, "status": p.status, "scheduled_at": p.scheduled_at,
                   "due_at": p.due_at, "attempts": p.attempts, "last_error": p.last_error} for p in posts],
    }
