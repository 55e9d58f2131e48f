"""The publisher's SQL, built once per process: the claim, the load, the fenced update, the audit row.

A publish is three commits (claim and gate, intent before the call, outcome). Building each
statement anew through the ORM cost more CPU than the round trips themselves (SQLAlchemy's
statement construction and cache-key generation, about 40% of a publish's own time), so the
statements here are Core statements made once with bound parameters: SQLAlchemy memoises a
statement object's cache key, so executing the same object again skips straight to its compiled
form. The rules they carry are the ones ``tasks.domain.claim`` and ``tasks.domain.publisher``
describe; only their cost changed.
"""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any, Mapping

from sqlalchemy import Update, and_, bindparam, insert, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ClauseElement

from models import Integration, PostEvent, PostStatus, SocialPost, Tenant, utcnow

_posts = SocialPost.__table__
_events = PostEvent.__table__

# Claim: approved and due, or publishing with an expired lease (tasks.domain.claim explains why).
CLAIM = (
    update(_posts)
    .where(_posts.c.id == bindparam("p_id"), or_(
        and_(_posts.c.status == PostStatus.APPROVED.value,
             or_(_posts.c.due_at.is_(None), _posts.c.due_at <= bindparam("p_now", type_=_posts.c.due_at.type))),
        and_(_posts.c.status == PostStatus.PUBLISHING.value,
             _posts.c.lease_expires_at < bindparam("p_now", type_=_posts.c.due_at.type)),
    ))
    .values(status=PostStatus.PUBLISHING.value, lease_owner=bindparam("v_owner"),
            lease_expires_at=bindparam("v_until", type_=_posts.c.lease_expires_at.type),
            due_at=bindparam("v_until", type_=_posts.c.due_at.type), enqueued_at=None,
            attempts=_posts.c.attempts + 1)
)

# The post with its tenant and Page, in one statement (the gate needs all three).
LOAD = (
    select(SocialPost, Tenant, Integration)
    .outerjoin(Tenant, Tenant.id == SocialPost.tenant_id)
    .outerjoin(Integration, Integration.id == SocialPost.integration_id)
    .where(SocialPost.id == bindparam("p_id"))
)

INSERT_EVENT = insert(_events).values(
    post_id=bindparam("e_post_id"), tenant_id=bindparam("e_tenant_id"), kind=bindparam("e_kind"),
    actor=bindparam("e_actor"), detail=bindparam("e_detail", type_=_events.c.detail.type),
    created_at=bindparam("e_created_at", type_=_events.c.created_at.type))

_fenced_statements: dict[tuple[str, ...], Update] = {}
_fenced_lock = threading.Lock()


def claim_post(session: Session, post_id: str, owner: str, now: datetime, lease_until: datetime) -> bool:
    """The claim's conditional UPDATE; True when this caller won it."""
    result = session.execute(CLAIM, {"p_id": post_id, "p_now": now, "v_owner": owner, "v_until": lease_until})
    return result.rowcount == 1  # type: ignore[attr-defined]


def load_post(session: Session, post_id: str) -> tuple[SocialPost | None, Tenant | None, Integration | None]:
    row = session.execute(LOAD, {"p_id": post_id}).one_or_none()
    return (None, None, None) if row is None else (row[0], row[1], row[2])


def _fenced_statement(columns: tuple[str, ...]) -> Update:
    statement = _fenced_statements.get(columns)
    if statement is None:
        with _fenced_lock:
            statement = _fenced_statements.get(columns)
            if statement is None:
                statement = _fenced_statements[columns] = (
                    update(_posts)
                    .where(_posts.c.id == bindparam("p_id"), _posts.c.lease_owner == bindparam("p_owner"),
                           _posts.c.status == PostStatus.PUBLISHING.value)
                    .values({name: bindparam(f"v_{name}", type_=_posts.c[name].type) for name in columns}))
    return statement


def fenced_update(session: Session, post_id: str, owner: str, values: Mapping[str, Any]) -> int:
    """UPDATE the post only while ``owner`` holds its lease; returns the rows changed (0 or 1).

    Values are plain values bound as parameters; an SQL expression (``attempts - 1``) takes the
    general path, which builds its statement each time (it is rare: a refunded attempt)."""
    if any(isinstance(value, ClauseElement) for value in values.values()):
        statement = (update(_posts)
                     .where(_posts.c.id == post_id, _posts.c.lease_owner == owner,
                            _posts.c.status == PostStatus.PUBLISHING.value)
                     .values(dict(values)))
        return session.execute(statement).rowcount  # type: ignore[attr-defined, no-any-return]
    columns = tuple(sorted(values))
    params = {"p_id": post_id, "p_owner": owner, **{f"v_{name}": value for name, value in values.items()}}
    return session.execute(_fenced_statement(columns), params).rowcount  # type: ignore[attr-defined, no-any-return]


def insert_event(session: Session, post_id: str, tenant_id: str, kind: str, detail: dict[str, Any],
                 actor: str | None = None) -> None:
    """One audit row (the same row ``tasks.domain.events`` writes through the ORM)."""
    session.execute(INSERT_EVENT, {"e_post_id": post_id, "e_tenant_id": tenant_id, "e_kind": kind,
                                   "e_actor": actor, "e_detail": detail, "e_created_at": utcnow()})
