"""Foundation CLI: `db upgrade` on empty databases, `keys generate|rotate`, `tenant add --json`."""

from __future__ import annotations

import json
import uuid

import psycopg
from click.testing import CliRunner
from cryptography.fernet import Fernet
from sqlalchemy import create_engine, inspect

from models.db import normalize_url
from tests.support.services import PG_ADMIN_URL, check_postgres
from worker.cli import cli
from worker.core.settings import get_settings

CONTRACT_TABLES = {"tenants", "integrations", "social_calendars", "calendar_slots", "social_posts", "post_events",
                   "page_insights", "post_metrics", "insight_anomalies", "report_inputs", "failed_jobs"}


def _upgrade(url: str, monkeypatch) -> set[str]:
    monkeypatch.setenv("SOCIALCAL_DATABASE_URL", url)
    get_settings.cache_clear()
    result = CliRunner().invoke(cli, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    engine = create_engine(normalize_url(url))
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
        get_settings.cache_clear()


def test_db_upgrade_on_an_empty_sqlite_file(tmp_path, monkeypatch):
    assert CONTRACT_TABLES <= _upgrade(f"sqlite:///{tmp_path / 'empty.db'}", monkeypatch)


def test_db_upgrade_on_an_empty_postgresql_database(monkeypatch):
    check_postgres()
    name = f"socialcal_empty_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        assert CONTRACT_TABLES <= _upgrade(PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}", monkeypatch)
    finally:
        from models.db import dispose_engines

        dispose_engines()
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_keys_generate_prints_a_fernet_key():
    result = CliRunner().invoke(cli, ["keys", "generate"])
    assert result.exit_code == 0
    Fernet(result.output.strip().encode())  # raises if it is not a key


def test_keys_rotate_and_tenant_add(db, monkeypatch):
    from tests.support.factories import connect

    added = CliRunner().invoke(cli, ["tenant", "add", "--name", "Acme", "--timezone", "Europe/Berlin", "--json"])
    tenant = json.loads(added.output)
    assert tenant["timezone"] == "Europe/Berlin" and tenant["auto_publish"] is False
    connect(tenant["id"], "p1", "EAAPlainTokenForRotation0000000001")
    new_key = Fernet.generate_key().decode()
    monkeypatch.setenv("SOCIALCAL_ENCRYPTION_KEYS", f"{new_key},{get_settings().encryption_keys[0]}")
    get_settings.cache_clear()
    first = CliRunner().invoke(cli, ["keys", "rotate"])
    second = CliRunner().invoke(cli, ["keys", "rotate"])
    assert "rotated 1 token(s)" in first.output
    assert "rotated 0 token(s); 1 already under the newest key" in second.output
    bad = CliRunner().invoke(cli, ["tenant", "add", "--name", "X", "--timezone", "Mars/Base"])
    assert bad.exit_code == 1 and bad.output.startswith("Error: timezone: unknown time zone")
