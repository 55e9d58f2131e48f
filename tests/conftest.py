"""Shared fixtures: a database per backend (SQLite and PostgreSQL), real Redis, the sandbox Graph
server over loopback HTTP, and real Celery worker processes.

Database tests run once per backend in ``SOCIALCAL_TEST_BACKENDS`` (default ``sqlite,postgresql``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

from cryptography.fernet import Fernet

from tests.support.redis_db import this_process_redis_url

# The test process and its workers share one broker db and keys; settings are read lazily, so these
# only have to be set before the first get_settings() (and before worker.app is imported below).
os.environ["SOCIALCAL_BROKER_URL"] = this_process_redis_url()
os.environ.pop("SOCIALCAL_REDIS_URL", None)
os.environ["SOCIALCAL_ENCRYPTION_KEYS"] = Fernet.generate_key().decode()
os.environ.setdefault("SOCIALCAL_LOG_FORMAT", "json")
os.environ.pop("SOCIALCAL_FB_APP_SECRET", None)

import pytest  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402

# Property tests at every boundary (tests/*/test_hostile_*.py). "ci" keeps each to tens of examples
# so the suite fits CI; run a larger search locally with `./dev test --hypothesis-profile=large -k hostile`.
_HYPOTHESIS_COMMON = dict(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                               HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("ci", max_examples=20, **_HYPOTHESIS_COMMON)
settings.register_profile("large", max_examples=500, **_HYPOTHESIS_COMMON)
settings.load_profile("ci")

import worker.core.logging  # noqa: E402

worker.core.logging.CACHE_LOGGERS = False  # capture_logs must see every logger, whichever test used it first
import worker.app  # noqa: E402,F401 - domain code sends through the current app: socialcal's, on the test broker
from tests.support.services import REDIS_URL, check_postgres, check_redis, truncate_all  # noqa: E402
from tests.support.stack import WorkerProcess, create_database, drop_database  # noqa: E402
from worker.core.settings import get_settings  # noqa: E402


@pytest.fixture(autouse=True)
def celery_app_left_as_found() -> Iterator[None]:
    """Every test leaves Celery's current and default app as it found them (socialcal's, on the test
    broker): domain code sends through the current app, so a test that swapped it and did not swap it
    back would send a later test's messages to its own, stopped, broker."""
    from celery import current_app

    before = current_app._get_current_object()
    yield
    after = current_app._get_current_object()
    if after is not before:
        before.set_current()
        before.set_default()
        pytest.fail(f"the test left Celery's current app changed (app {after.main!r}); restored", pytrace=False)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--fault-posts", type=int, default=60,
                     help="approved posts the fault suite drains (CI default 60; try 300 locally)")


# Started first, so that with several test processes (./dev test runs pytest-xdist with --dist
# worksteal) the longest tests overlap each other and the many short ones fill in after them, instead
# of one process running a two-minute test alone at the end.
LONGEST_FIRST = ("test_service_restarts", "test_faults", "test_budget_workers", "test_page_budget_tokens",
                 "test_recovery", "test_beat_leader", "test_unknown_outcomes")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        module = item.path.stem
        return 0 if module in LONGEST_FIRST else 1 if item.get_closest_marker("integration") else 2

    items.sort(key=rank)  # stable: the usual order within each rank


BACKENDS = [b.strip() for b in os.environ.get("SOCIALCAL_TEST_BACKENDS", "sqlite,postgresql").split(",") if b.strip()]


@pytest.fixture(scope="session", params=BACKENDS)
def backend_db(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One migrated database per backend for the whole session (emptied between tests)."""
    if request.param == "postgresql":
        check_postgres()
    url = create_database(request.param, tmp_path_factory.mktemp(f"db-{request.param}"))
    yield url
    drop_database(url)


@pytest.fixture
def db(backend_db: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """An empty database, configured as this process's SOCIALCAL_DATABASE_URL."""
    truncate_all(backend_db)
    monkeypatch.setenv("SOCIALCAL_DATABASE_URL", backend_db)
    get_settings.cache_clear()
    yield backend_db
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def redis_client() -> "object":
    import redis

    check_redis()
    return redis.Redis.from_url(REDIS_URL)


@pytest.fixture(scope="session")
def sandbox_server() -> Iterator["object"]:
    from graph.sandbox import SandboxServer

    server = SandboxServer(host="127.0.0.1", port=0, seed=7)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def sandbox(sandbox_server: "object", monkeypatch: pytest.MonkeyPatch) -> Iterator["object"]:
    """The sandbox, emptied of objects, stats and faults, with this process pointed at it."""
    sandbox_server.reset()  # type: ignore[attr-defined]
    # reset() keeps the budget configuration and the timing knobs; a test that changed one must not
    # leak into the next one (which, split over processes, may be any test of the suite).
    sandbox_server.set_budget(calls_per_window=200, window_seconds=3600,  # type: ignore[attr-defined]
                              app_calls_per_window=None, window_mode="fixed",
                              reels_per_window=30, reels_window_seconds=86400)
    sandbox_server.set_faults(rules=[], latency_ms=0, fault_timeout_seconds=5.0,  # type: ignore[attr-defined]
                              video_processing_seconds=0.0)
    monkeypatch.setenv("SOCIALCAL_GRAPH_URL", sandbox_server.graph_url)  # type: ignore[attr-defined]
    monkeypatch.setenv("SOCIALCAL_GRAPH_VIDEO_URL", sandbox_server.video_url)  # type: ignore[attr-defined]
    get_settings.cache_clear()
    yield sandbox_server
    get_settings.cache_clear()


def worker_env(database_url: str, sandbox_server: "object", **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOCIALCAL_")}
    env.update({
        "SOCIALCAL_DATABASE_URL": database_url,
        "SOCIALCAL_BROKER_URL": os.environ["SOCIALCAL_BROKER_URL"],
        "SOCIALCAL_ENCRYPTION_KEYS": os.environ["SOCIALCAL_ENCRYPTION_KEYS"],
        "SOCIALCAL_GRAPH_URL": sandbox_server.graph_url,  # type: ignore[attr-defined]
        "SOCIALCAL_GRAPH_VIDEO_URL": sandbox_server.video_url,  # type: ignore[attr-defined]
        "SOCIALCAL_LOG_FORMAT": "json",
        "SOCIALCAL_GRAPH_TIMEOUT_SECONDS": "3",
    })
    env.update(extra)
    return env


# Integration tests run their workers on the solo pool; SOCIALCAL_TEST_POOL=threads runs the same
# tests on the thread pool the publish queue uses in production (SOCIALCAL_TEST_CONCURRENCY threads).
TEST_POOL = os.environ.get("SOCIALCAL_TEST_POOL", "solo")
TEST_CONCURRENCY = int(os.environ.get("SOCIALCAL_TEST_CONCURRENCY", "8" if TEST_POOL == "threads" else "1"))


class WorkerFactory:
    """Starts real worker processes for one test and stops (or kills) them all afterwards."""

    def __init__(self, database_url: str, sandbox_server: "object", log_dir: Path) -> None:
        self.database_url = database_url
        self.sandbox_server = sandbox_server
        self.log_dir = log_dir
        self.started: list[WorkerProcess] = []

    def start(self, queues: tuple[str, ...] = ("publish", "default", "insights"), name: str | None = None,
              pool: str = TEST_POOL, concurrency: int = TEST_CONCURRENCY, **extra_env: str) -> WorkerProcess:
        proc = WorkerProcess(worker_env(self.database_url, self.sandbox_server, **extra_env), self.log_dir,
                             queues, name=name, pool=pool, concurrency=concurrency)
        self.started.append(proc)
        return proc.start()

    def logs(self) -> str:
        return "\n".join(p.read_log() for p in self.started)

    def stop_all(self) -> None:
        for proc in self.started:
            proc.stop()


@pytest.fixture
def workers(db: str, sandbox: "object", redis_client: "object", tmp_path: Path) -> Iterator[WorkerFactory]:
    """Real Celery workers on real Redis against this test's database and the sandbox."""
    redis_client.flushdb()  # type: ignore[attr-defined]
    factory = WorkerFactory(db, sandbox, tmp_path)
    yield factory
    factory.stop_all()
    redis_client.flushdb()  # type: ignore[attr-defined]
