"""Engines, sessions and the one-transaction-per-unit-of-work helper.

Engines are kept per process id: a Celery prefork child must never reuse a connection pool it
inherited from its parent (two processes on one socket corrupt both), so a forked child gets a fresh
engine on first use and the inherited pool is dropped without closing the parent's connections.

Follow-up work (enqueuing a task, sending to an agent queue) is registered with ``after_commit`` and
runs only once the transaction has committed, so a worker never announces a row another process
cannot yet see, and a rolled-back transaction announces nothing.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Any, Callable, Iterator

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from worker.core.logging import get_logger
from worker.core.process_local import PerProcess
from worker.core.settings import get_settings

log = get_logger(__name__)
_engines: PerProcess[str, Engine] = PerProcess()
_AFTER_COMMIT = "socialcal_after_commit"


def normalize_url(url: str) -> str:
    """Use psycopg 3 for plain ``postgresql://`` URLs (SQLAlchemy would otherwise pick psycopg2)."""
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url[len("postgresql://"):]
    if url.startswith("postgres://"):
        return "postgresql+psycopg://" + url[len("postgres://"):]
    return url


def _make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 60, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            # Let our own BEGIN IMMEDIATE below start transactions: a deferred transaction that later
            # needs the write lock fails at once with "database is locked" instead of waiting.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=60000")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(connection: Any) -> None:
            connection.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5)


def get_engine(url: str | None = None) -> Engine:
    url = normalize_url(url or get_settings().database_url)
    return _engines.get(url, lambda: _make_engine(url))


def _forget_parent_engines() -> None:
    for engine in _engines.drop_inherited():
        engine.dispose(close=False)  # the parent's connections stay the parent's


os.register_at_fork(after_in_child=_forget_parent_engines)


def dispose_engines() -> None:
    """Close every pool this process holds (tests switching databases, worker shutdown)."""
    for engine in _engines.clear():
        engine.dispose()


def session_factory(url: str | None = None) -> sessionmaker[Session]:
    return sessionmaker(bind=get_engine(url), expire_on_commit=False)


@contextmanager
def transaction(url: str | None = None) -> Iterator[Session]:
    """One session, one transaction: commit on success, roll back on any exception."""
    session = session_factory(url)()
    try:
        with session.begin():
            yield session
    finally:
        session.close()


def after_commit(session: Session, callback: Callable[[], Any]) -> None:
    """Run ``callback`` once ``session``'s current transaction commits; drop it on rollback."""
    session.info.setdefault(_AFTER_COMMIT, []).append(callback)


@event.listens_for(Session, "after_commit")
def _run_after_commit(session: Session) -> None:
    callbacks = session.info.pop(_AFTER_COMMIT, [])
    for callback in callbacks:
        try:
            callback()
        except Exception:  # the rows are committed; dispatch_due finds whatever this failed to send
            log.exception("after_commit_callback_failed", callback=getattr(callback, "__qualname__", repr(callback)))


@event.listens_for(Session, "after_rollback")
def _drop_after_commit(session: Session) -> None:
    session.info.pop(_AFTER_COMMIT, None)
