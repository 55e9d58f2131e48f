"""The README's first command: `socialcal demo` runs the pipeline to its summary and exits 0."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys

import pytest

from tests.support.services import REDIS_URL

pytestmark = pytest.mark.integration


def _run_demo(tmp_path, **env_overrides: str) -> tuple[subprocess.CompletedProcess[str], str]:
    db_path = tmp_path / "demo.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOCIALCAL_")}
    env.update(env_overrides)
    proc = subprocess.run([sys.executable, "-m", "worker.cli", "demo", "--db", str(db_path)], env=env,
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    return proc, str(db_path)


def test_demo_with_nothing_running_reaches_its_summary(tmp_path):
    proc, db_path = _run_demo(tmp_path)  # no broker, no database, no keys: the embedded default
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = proc.stdout
    assert "broker memory://" in out
    for header in ("PLANNED", "INVALID", "REJECTED", "SCHEDULED", "DRAFTS", "PUBLISHED", "GRAPH_CALLS", "ANOMALIES"):
        assert header in out
    rows = {line.split("  ")[0].strip(): line.split() for line in out.splitlines()
            if line.startswith(("Northwind", "Harbor", "Lumen"))}
    assert len(rows) == 3
    conn = sqlite3.connect(db_path)
    statuses = dict(conn.execute("SELECT status, count(*) FROM social_posts GROUP BY status").fetchall())
    assert statuses.get("invalid") == 1 and statuses.get("rejected") == 1
    assert statuses.get("scheduled", 0) >= 20 and statuses.get("platform_draft", 0) >= 1
    assert statuses.get("published") == 1  # the auto-publish tenant's post that was due
    assert conn.execute("SELECT count(*) FROM insight_anomalies").fetchone()[0] >= 1
    assert conn.execute("SELECT count(*) FROM report_inputs").fetchone()[0] == 3
    assert "Traceback" not in proc.stderr


def test_demo_uses_a_live_redis_when_the_broker_points_at_one(tmp_path, redis_client):
    # This run's own test Redis (SOCIALCAL_TEST_REDIS_URL): a fixed db shared with other runs on the
    # machine let another run's demo worker take this demo's approval messages.
    broker = REDIS_URL
    proc, _ = _run_demo(tmp_path, SOCIALCAL_BROKER_URL=broker)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert f"broker {broker}" in proc.stdout
