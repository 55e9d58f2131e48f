"""Engines, sessions and the one-transaction-per-unit-of-work helper.

Engines are kept per process id: a Celery prefork child must never reuse a connection pool it
inherited from its parent (two processes on one socket corrupt both), so a forked child gets a fresh
engine on first use and the inherited pool is dropped without closing the parent's connections.

Dead connections are found without a ``SELECT 1`` per transaction (``pool_pre_ping`` cost one round
trip per checkout, as many as the commits): a connection that sat idle in the pool for longer than
``IDLE_PING_SECONDS`` is pinged at checkout (the pool is LIFO, so a busy worker keeps reusing warm
connections and only idle ones are checked), and ``run_transaction`` re-runs its unit of work once
when the database dropped the connection before the commit was sent (``connection_invalidated``:
nothing of that transaction happened). SQLAlchemy invalidates the whole pool on a disconnect, so
after a PostgreSQL restart every older connection is replaced, not just the one that failed.

Follow-up work (enqueuing a task, sending to an agent queue) is registered with ``after_commit`` and
runs only once the transaction has committed, so a worker never announces a row another process
cannot yet see, and a rolled-back transaction announces nothing.
"""

from __future__ import annotations

import os
import time
from contextlib import contextmanager
from typing import Any, Callable, Iterator, TypeVar

from sqlalchemy import Engine, create_engine, event, exc
from sqlalchemy.orm import Session, sessionmaker

from worker.core.logging import get_logger
from worker.core.process_local import PerProcess
from worker.core.settings import get_settings

log = get_logger(__name__)
_engines: PerProcess[str, Engine] = PerProcess()
_factories: PerProcess[str, sessionmaker[Session]] = PerProcess()
_AFTER_COMMIT = "socialcal_after_commit"
T = TypeVar("T")
# A pooled connection idle for longer than this is pinged before use (see the module docstring).
IDLE_PING_SECONDS = 5.0
# Connections per engine kept in the pool (plus DEFAULT_OVERFLOW more under a peak). A worker with a
# thread pool raises it to its concurrency (``configure_pool``) so no thread waits for a connection.
DEFAULT_POOL_SIZE = 5
DEFAULT_OVERFLOW = 5
_pool_size = DEFAULT_POOL_SIZE


def configure_pool(size: int) -> None:
    """Connections per engine for this process (a ``--pool threads`` worker: its thread count).
    Engines made before keep their size; call it before the first transaction."""
    global _pool_size
    _pool_size = max(1, int(size))


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
    engine = create_engine(url, pool_size=_pool_size, max_overflow=DEFAULT_OVERFLOW, pool_use_lifo=True)
    _ping_idle_connections(engine)
    return engine


def _ping_idle_connections(engine: Engine) -> None:
    """SQLAlchemy's pessimistic disconnect recipe, only for connections that sat idle a while."""

    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since < IDLE_PING_SECONDS:
            return
        try:
            cursor = dbapi_connection.cursor()
            try:
                cursor.execute("SELECT 1")
            finally:
                cursor.close()
            if not getattr(dbapi_connection, "autocommit", True):
                dbapi_connection.rollback()
        except Exception as error:  # noqa: BLE001 - any failure means this connection is unusable
            # The pool discards this connection and checks out (or opens) another one.
            raise exc.DisconnectionError(f"idle connection failed its ping: {type(error).__name__}") from None


def get_engine(url: str | None = None) -> Engine:
    url = normalize_url(url or get_settings().database_url)
    return _engines.get(url, lambda: _make_engine(url))


def _forget_parent_engines() -> None:
    for engine in _engines.drop_inherited():
        engine.dispose(close=False)  # the parent's connections stay the parent's


os.register_at_fork(after_in_child=_forget_parent_engines)


def dispose_engines() -> None:
    """Close every pool this process holds (tests switching databases, worker shutdown)."""
    _factories.clear()
    for engine in _engines.clear():
        engine.dispose()


def session_factory(url: str | None = None) -> sessionmaker[Session]:
    """This process's session maker for ``url`` (made once: building one per transaction cost CPU)."""
    url = normalize_url(url or get_settings().database_url)
    return _factories.get(url, lambda: sessionmaker(bind=get_engine(url), expire_on_commit=False))


@contextmanager
def transaction(url: str | None = None) -> Iterator[Session]:
    """One session, one transaction: commit on success, roll back on any exception."""
    session = session_factory(url)()
    try:
        with session.begin():
            yield session
    finally:
        session.close()


def run_transaction(work: Callable[[Session], T], url: str | None = None) -> T:
    """``work(session)`` in one transaction, run again once if the connection turned out dead.

    Only a disconnect raised *before* the commit is retried (``connection_invalidated``: the
    database never saw a COMMIT, so nothing of the first run happened); a failure of the commit
    itself is raised, since the commit may have landed. ``work`` must be safe to call twice (it only
    writes through ``session``); after-commit callbacks of the failed run are dropped with it.
    """
    for attempt in (1, 2):
        session = session_factory(url)()
        try:
            session.begin()
            try:
                result = work(session)
            except exc.DBAPIError as error:
                session.rollback()
                if attempt == 1 and error.connection_invalidated:
                    log.warning("database_connection_dropped_retry", error_class=type(error.orig).__name__)
                    continue
                raise
            except BaseException:
                session.rollback()
                raise
            session.commit()
            return result
        finally:
            session.close()
    raise AssertionError("unreachable")  # pragma: no cover


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
