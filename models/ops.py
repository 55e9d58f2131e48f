"""Work that failed for good, kept so an operator can see why and replay it, and messages the broker
refused, kept until they can be sent."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, id_column, utcnow


class FailedJob(Base):
    """Arguments and error are stored redacted: no token may ever reach this table."""

    __tablename__ = "failed_jobs"
    __table_args__ = (
        Index("ix_failed_jobs_task_name_status", "task_name", "status"),
        # The last day's failures, requeued or not, by kind (`socialcal status`): covering, no row reads.
        Index("ix_failed_jobs_created_at_kind", "created_at", "task_name", "error_class", "error_code"),
        # Open jobs only, a small share of the table: the metrics and every `jobs requeue` filter. Partial,
        # so SQLite's planner (which knows only that status has two values) reads it rather than the table.
        Index("ix_failed_jobs_open_kind", "task_name", "error_class", "created_at",
              sqlite_where=text("status = 'failed'"), postgresql_where=text("status = 'failed'")),
    )

    id: Mapped[str] = id_column()
    task_name: Mapped[str] = mapped_column(String(100))
    task_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    args: Mapped[list[Any]] = mapped_column(default=list)
    kwargs: Mapped[dict[str, Any]] = mapped_column(default=dict)
    error_class: Mapped[str] = mapped_column(String(100))
    error_message: Mapped[str] = mapped_column(Text)
    error_code: Mapped[str | None] = mapped_column(String(32), nullable=True)
    hint: Mapped[str | None] = mapped_column(Text, nullable=True)
    # A queue message Celery could not run (bad body, unknown task, arguments of the wrong shape):
    # its headers and body as received, redacted, escaped and cut to size.
    raw_message: Mapped[dict[str, Any] | None] = mapped_column(nullable=True)
    tenant_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    post_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    status: Mapped[str] = mapped_column(String(16), default="failed")  # failed | requeued
    requeue_count: Mapped[int] = mapped_column(Integer, default=0)
    requeued_at: Mapped[datetime | None] = mapped_column(nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class OutboxMessage(Base):
    """A follow-up message whose send failed after its transaction committed (the broker was down).

    ``dispatch_due`` sends it again every minute until the broker takes it, then deletes it; it is
    the copy of a message, so it holds only what task messages hold (ids, writer payloads), never a
    token. ``not_before``: a countdown the message asked for, as a time.
    """

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_not_before", "not_before"),)

    id: Mapped[str] = id_column()
    task_name: Mapped[str] = mapped_column(String(200))
    args: Mapped[list[Any]] = mapped_column(default=list)
    kwargs: Mapped[dict[str, Any]] = mapped_column(default=dict)
    queue: Mapped[str | None] = mapped_column(String(100), nullable=True)
    not_before: Mapped[datetime | None] = mapped_column(nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
