"""examples/typescript for real: node runs the example against real Redis and a real worker.

The example's dependencies come from its own lock file (`npm ci`, run by `./dev test`); a machine
without node, or without them installed, fails here loudly rather than skipping.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from kombu import Connection

from models import DEFAULT_CADENCE, PostEvent, PostStatus, SocialPost
from models.db import transaction
from tasks.domain.planning import plan_month
from tests.support.factories import connect, make_tenant
from tests.support.pipeline import post_row, write_post
from tests.support.stack import ROOT
from tests.support.waits import wait_for

pytestmark = pytest.mark.integration
EXAMPLE = ROOT / "examples" / "typescript"
WEEKLY_TEXT = {**DEFAULT_CADENCE, "weekdays": [1], "times": ["10:00"], "posts_per_week": 1, "content_types": ["text"]}


@pytest.fixture(scope="session")
def ts_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not installed: examples/typescript is tested for real and needs Node.js 20+")
    if not (EXAMPLE / "node_modules" / "ioredis").is_dir():
        pytest.fail("examples/typescript has no node_modules: run `npm ci` there (./dev test does it)")
    out = tmp_path_factory.mktemp("ts-build")
    subprocess.run([node, str(EXAMPLE / "node_modules" / "typescript" / "bin" / "tsc"), "-p", str(EXAMPLE),
                    "--outDir", str(out)], check=True, capture_output=True, timeout=180)
    return out


def run_node(build: Path, script: str, *args: str, timeout: float = 60, **env: str) -> subprocess.CompletedProcess:
    environ = {**os.environ, "NODE_PATH": str(EXAMPLE / "node_modules"),
               "SOCIALCAL_BROKER_URL": os.environ["SOCIALCAL_BROKER_URL"], **env}
    return subprocess.run(["node", str(build / script), *args], env=environ, capture_output=True, text=True,
                          timeout=timeout)


def next_month() -> str:
    return (datetime.now(timezone.utc).replace(day=1) + timedelta(days=40)).strftime("%Y-%m")


def test_approve_from_typescript_publishes_the_post(db, sandbox, workers, ts_build):
    workers.start()
    page = sandbox.add_page(name="TS approve")
    tenant_id = make_tenant()
    connect(tenant_id, page.page_id, page.token)
    post_id = write_post(tenant_id, "approved from TypeScript")
    result = run_node(ts_build, "approve.js", post_id, "ts-ui", post_row(post_id).content_hash)
    assert result.returncode == 0, result.stderr
    wait_for(lambda: post_row(post_id).status == PostStatus.SCHEDULED, 30, what="scheduled after a TS approval")
    with transaction() as session:
        approval = session.query(PostEvent).filter_by(post_id=post_id, kind="approved").one()
    assert approval.actor == "ts-ui"


def test_writer_agent_in_typescript_answers_every_request_with_intake(db, sandbox, workers, redis_client, ts_build):
    workers.start()
    page = sandbox.add_page(name="TS writer")
    tenant_id = make_tenant("TS writer", cadence=WEEKLY_TEXT)
    connect(tenant_id, page.page_id, page.token)
    with transaction() as session:
        slots = plan_month(session, tenant_id, next_month()).slot_ids
    assert slots and redis_client.llen("agents.post_writer") == len(slots)

    result = run_node(ts_build, "writer-agent.js", MAX_MESSAGES=str(len(slots)))
    assert result.returncode == 0, result.stderr
    assert f"answered {len(slots)} writer request(s)" in result.stdout

    def written() -> list[SocialPost]:
        with transaction() as session:
            return list(session.query(SocialPost).filter_by(tenant_id=tenant_id))

    posts = wait_for(lambda: len(written()) == len(slots) and written(), 30, what="a post per slot")
    assert sorted(p.slot_id for p in posts) == sorted(slots)
    assert all(p.status == PostStatus.PENDING_APPROVAL and p.message.startswith("Written in TypeScript")
               for p in posts)
    assert redis_client.llen("agents.post_writer") == 0
    assert not any(b"agents.post_writer" in v for v in redis_client.hvals("unacked"))  # every request acked


def test_a_request_held_by_a_crashed_agent_comes_back(db, sandbox, workers, redis_client, ts_build):
    workers.start()
    page = sandbox.add_page(name="TS crash")
    tenant_id = make_tenant("TS crash", cadence=WEEKLY_TEXT)
    connect(tenant_id, page.page_id, page.token)
    with transaction() as session:
        slots = plan_month(session, tenant_id, next_month()).slot_ids
    crashed = run_node(ts_build, "writer-agent.js", CRASH_BEFORE_ACK="1")
    assert crashed.returncode == 3
    assert redis_client.llen("agents.post_writer") == len(slots) - 1
    held = [v for v in redis_client.hvals("unacked") if b"agents.post_writer" in v]
    assert len(held) == 1  # recorded as kombu records its own deliveries

    # What socialcal's workers do after the visibility timeout (2 h), done now with a zero timeout.
    with Connection(os.environ["SOCIALCAL_BROKER_URL"], transport_options={"visibility_timeout": 0}) as conn:
        conn.default_channel.qos.restore_visible(num=100)
    assert redis_client.llen("agents.post_writer") == len(slots)

    result = run_node(ts_build, "writer-agent.js", MAX_MESSAGES=str(len(slots)))
    assert result.returncode == 0, result.stderr

    def written() -> int:
        with transaction() as session:
            return session.query(SocialPost).filter_by(tenant_id=tenant_id).count()

    wait_for(lambda: written() == len(slots), 30, what="every slot written after the crash")
