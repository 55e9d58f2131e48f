"""A connection PostgreSQL dropped is found without a ping per transaction (models.db).

The pool no longer sends ``SELECT 1`` before every checkout. Instead a connection idle for a while
is pinged at checkout, and ``run_transaction`` (every write of the publisher) runs its work once
more when the connection turns out dead before the commit. Both are shown here against a real
PostgreSQL whose server side of the pooled connections is killed with ``pg_terminate_backend``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import psycopg
import pytest
from sqlalchemy import text

from models import db as models_db
from tests.support.services import check_postgres
from tests.support.stack import PG_ADMIN_URL, create_database, drop_database

pytestmark = pytest.mark.integration


@pytest.fixture
def pg_url(tmp_path: Path) -> Iterator[str]:
    check_postgres()
    url = create_database("postgresql", tmp_path)
    yield url
    drop_database(url)


def kill_pooled_connections(url: str) -> int:
    """Terminate every backend of the test database (the pool's idle connections)."""
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        rows = admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                             "WHERE datname = %s AND pid <> pg_backend_pid()", (name,)).fetchall()
    return len(rows)


def warm(url: str) -> None:
    assert models_db.run_transaction(lambda s: s.execute(text("SELECT 1")).scalar(), url) == 1


def test_a_dropped_connection_is_retried_once_when_the_transaction_had_not_committed(pg_url, monkeypatch):
    monkeypatch.setattr(models_db, "IDLE_PING_SECONDS", 3600.0)  # no ping: the retry must find it
    warm(pg_url)
    assert kill_pooled_connections(pg_url) >= 1
    runs: list[int] = []

    def work(session) -> int:
        runs.append(1)
        return session.execute(text("SELECT 41 + 1")).scalar()

    assert models_db.run_transaction(work, pg_url) == 42
    assert len(runs) == 2  # the first run met the dead connection, the second a fresh one


def test_an_idle_connection_is_pinged_and_replaced_before_use(pg_url, monkeypatch):
    monkeypatch.setattr(models_db, "IDLE_PING_SECONDS", 0.0)  # every pooled connection counts as idle
    warm(pg_url)
    assert kill_pooled_connections(pg_url) >= 1
    runs: list[int] = []

    def work(session) -> int:
        runs.append(1)
        return session.execute(text("SELECT 42")).scalar()

    assert models_db.run_transaction(work, pg_url) == 42
    assert len(runs) == 1  # the checkout's ping found the dead connection: the work ran once


def test_an_error_that_is_not_a_disconnect_is_not_retried(pg_url):
    runs: list[int] = []

    def work(session) -> None:
        runs.append(1)
        session.execute(text("SELECT no_such_column FROM social_posts"))

    with pytest.raises(Exception):
        models_db.run_transaction(work, pg_url)
    assert len(runs) == 1
