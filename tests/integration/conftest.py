"""Fixtures for tests that take a service away: a Redis and a PostgreSQL of the test's own.

The shared servers (6379, 5432) are never stopped or restarted; these start their own server on a
free loopback port (``tests.support.own_services``), and the test points its own workers, and this
process, at it.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Iterator

import pytest

from models.db import dispose_engines
from tests.support.own_services import OwnPostgres, OwnRedis
from tests.support.stack import create_database, drop_database
from worker.core.settings import get_settings


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    server = OwnRedis(tmp_path / "redis").start()
    yield server
    server.stop(kill=True)


@pytest.fixture
def own_broker_app(own_redis: OwnRedis, monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """This test process sends through a socialcal app whose broker is the test's own Redis."""
    from celery import current_app

    from worker.app import make_app

    previous = current_app._get_current_object()
    monkeypatch.setenv("SOCIALCAL_BROKER_URL", own_redis.url())
    get_settings.cache_clear()
    app = make_app()  # becomes the default and current app, so the domain's sends go to our own Redis
    yield app
    app.close()
    # Both, or later tests in this process would go on sending to this test's (stopped) Redis.
    previous.set_current()
    previous.set_default()
    get_settings.cache_clear()


@pytest.fixture
def own_postgres() -> Iterator[OwnPostgres]:
    # Not under tmp_path: the cluster runs as the postgres user, and every pytest session that starts
    # resets /tmp/pytest-of-<user> to 0700 (pytest's own safety check), which would lock it out of
    # its data directory halfway through a test whenever two pytest sessions share the machine.
    server = OwnPostgres(Path(tempfile.mkdtemp(prefix="socialcal-pg-"))).init().start()
    yield server
    dispose_engines()
    server.destroy()


@pytest.fixture
def own_pg_db(own_postgres: OwnPostgres, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A migrated database in the test's own cluster, configured as this process's database."""
    url = create_database("postgresql", tmp_path, admin_url=own_postgres.admin_url)
    monkeypatch.setenv("SOCIALCAL_DATABASE_URL", url)
    get_settings.cache_clear()
    yield url
    dispose_engines()
    get_settings.cache_clear()
    try:
        drop_database(url, admin_url=own_postgres.admin_url)
    except Exception:  # noqa: BLE001 - the cluster is destroyed next anyway
        pass


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, list, dict, dict]]:
    """Messages the code sends after commit (agent queues, follow-up tasks) as (name, args, kwargs,
    options), captured instead of brokered. (test_lease_and_outbox.py captures one level lower.)"""
    from worker.app import app

    captured: list[tuple[str, list, dict, dict]] = []
    monkeypatch.setattr(app, "send_task", lambda name, args=(), kwargs=None, **options:
                        captured.append((name, list(args), dict(kwargs or {}), options)))
    return captured
