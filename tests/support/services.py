"""Reaching the real Redis and PostgreSQL (fresh databases: ``tests.support.stack``).

When ``SOCIALCAL_REQUIRE_SERVICES=1`` (CI sets it) a missing service fails the test instead of
skipping it: a green run must never hide tests that did not run.
"""

from __future__ import annotations

import os

import pytest

from tests.support.redis_db import this_process_redis_url
from tests.support.stack import PG_ADMIN_URL

REDIS_URL = this_process_redis_url()  # this pytest process's own db (tests.support.redis_db)
REQUIRE_SERVICES = os.environ.get("SOCIALCAL_REQUIRE_SERVICES") == "1"


def unavailable(what: str, reason: str) -> None:
    message = f"{what} is not reachable ({reason})"
    if REQUIRE_SERVICES:
        pytest.fail(message + "; SOCIALCAL_REQUIRE_SERVICES=1 forbids skipping", pytrace=False)
    pytest.skip(message)


def check_redis(url: str = REDIS_URL) -> None:
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except Exception as error:  # noqa: BLE001
        unavailable("Redis", str(error).splitlines()[0])


def check_postgres(url: str = PG_ADMIN_URL) -> None:
    import psycopg

    try:
        psycopg.connect(url, connect_timeout=3).close()
    except Exception as error:  # noqa: BLE001
        unavailable("PostgreSQL", str(error).splitlines()[0])


def truncate_all(url: str) -> None:
    """Empty every table between tests that share one database (and one worker)."""
    from sqlalchemy import text

    from models import Base
    from models.db import get_engine

    engine = get_engine(url)
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " CASCADE"))
        else:
            for table in tables:
                conn.execute(text(f'DELETE FROM "{table}"'))
