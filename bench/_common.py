"""Shared helpers for the benchmarks: a fresh database, the broker, the sandbox, worker processes.

Import this module before anything that reads settings or builds the Celery app: it fixes the broker
URL and the encryption keys in this process's environment first. Run the benchmarks as modules from
the repository root (``python -m bench.pipeline``); the database and worker helpers are the ones the
tests use (``tests.support.stack``).

Defaults are chosen so a benchmark never touches anybody else's data on a shared machine:

* Redis db 10 (``SOCIALCAL_BENCH_REDIS_URL``) is the broker and the call budget store; it is flushed at
  the start and at the end of every run.
* PostgreSQL: a new database ``socialcal_bench_<random>`` on ``SOCIALCAL_BENCH_PG_URL`` (admin URL),
  migrated with ``models.migrate.upgrade`` and dropped at the end (``--keep-db`` keeps it).
* The sandbox Graph server runs in its own process by default (Graph is remote in production, and a
  server thread inside the benchmark process would share its GIL with the benchmark's own work).
"""

from __future__ import annotations

import json
import os
import select
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence

from cryptography.fernet import Fernet

from tests.support import stack
from tests.support.stack import ROOT, process_cpu_seconds  # noqa: F401 - used by the benches

# The benches' worker processes are the tests' (``tests.support.stack.WorkerGroup``).
Workers = stack.WorkerGroup

BROKER_URL = os.environ.get("SOCIALCAL_BENCH_REDIS_URL", "redis://127.0.0.1:6379/10")
PG_ADMIN_URL = os.environ.get("SOCIALCAL_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
# Throughput runs must not be paced by the per-token budget (benchmarked separately): every Page
# gets this many calls per hour, in socialcal's Redis budget and in the sandbox alike.
BIG_BUDGET = 100_000

# Before any product import: the Celery app binds its broker when ``worker.app`` is imported.
os.environ["SOCIALCAL_BROKER_URL"] = BROKER_URL
os.environ.pop("SOCIALCAL_REDIS_URL", None)
os.environ.pop("SOCIALCAL_FB_APP_SECRET", None)
os.environ.setdefault("SOCIALCAL_ENCRYPTION_KEYS", Fernet.generate_key().decode())
os.environ.setdefault("SOCIALCAL_LOG_FORMAT", "json")


# ----------------------------------------------------------------------------------- environment

def configure(database_url: str, graph_url: str, *, calls_per_hour: int = BIG_BUDGET,
              extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Point this process at the run's database and sandbox; return the environment for workers."""
    from worker.core.logging import configure_logging
    from worker.core.settings import get_settings

    values = {
        "SOCIALCAL_DATABASE_URL": database_url,
        "SOCIALCAL_BROKER_URL": BROKER_URL,
        "SOCIALCAL_ENCRYPTION_KEYS": os.environ["SOCIALCAL_ENCRYPTION_KEYS"],
        "SOCIALCAL_GRAPH_URL": graph_url,
        "SOCIALCAL_GRAPH_VIDEO_URL": graph_url,
        "SOCIALCAL_GRAPH_CALLS_PER_HOUR": str(calls_per_hour),
        "SOCIALCAL_LOG_FORMAT": "json",
        **(extra or {}),
    }
    os.environ.update(values)
    get_settings.cache_clear()
    # The benchmark process itself only reports; product log lines (one per approval...) are muted.
    configure_logging("json", "WARNING", force=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOCIALCAL_")}
    env.update(values)
    return env


def redis_client() -> Any:
    import redis

    return redis.Redis.from_url(BROKER_URL)


def flush_redis() -> None:
    redis_client().flushdb()


def broker_backlog(client: Any, queues: Iterable[str]) -> int:
    """Messages waiting in ``queues`` plus messages delivered but not yet acknowledged (acks_late)."""
    pipe = client.pipeline()
    for queue in queues:
        pipe.llen(queue)
    pipe.hlen("unacked")
    return sum(int(n) for n in pipe.execute())


# ----------------------------------------------------------------------------------- database

def create_database(backend: str = "postgresql") -> str:
    """A new, migrated, empty database named ``socialcal_bench_<random>``; returns its URL."""
    return stack.create_database(backend, Path(tempfile.mkdtemp(prefix="socialcal-bench-")), admin_url=PG_ADMIN_URL,
                                 prefix="socialcal_bench")


def drop_database(url: str) -> None:
    stack.drop_database(url, admin_url=PG_ADMIN_URL)


# ----------------------------------------------------------------------------------- sandbox

@dataclass(frozen=True)
class Page:
    page_id: str
    token: str
    name: str


class Sandbox:
    """The sandbox Graph server, in its own process (``mode="process"``) or a thread of this one.

    Both expose the same small API the benchmarks use: ``add_page``, ``objects``, ``stats``,
    ``set_faults`` and ``graph_url``; in process mode it goes through the sandbox's admin API.
    """

    def __init__(self, *, mode: str = "process", seed: int = 7, calls_per_window: int = BIG_BUDGET,
                 window_seconds: float = 3600, latency_ms: float = 0) -> None:
        self.mode = mode
        self.options = dict(seed=seed, calls_per_window=calls_per_window, window_seconds=window_seconds,
                            latency_ms=latency_ms)
        self._server: Any = None
        self._proc: subprocess.Popen[str] | None = None
        self._http: Any = None
        self.base_url = ""

    def start(self) -> "Sandbox":
        if self.mode == "thread":
            from graph.sandbox import SandboxServer

            self._server = SandboxServer(host="127.0.0.1", port=0, **self.options).start()
            self.base_url = self._server.base_url
            return self
        import requests

        args = ", ".join(f"{k}={v!r}" for k, v in self.options.items())
        code = f"from graph.sandbox import serve; serve(host='127.0.0.1', port=0, {args})"
        self._proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT, text=True, start_new_session=True)
        assert self._proc.stdout is not None
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self._proc.stdout], [], [], 0.5)
            if ready:
                line = self._proc.stdout.readline()
                if "listening on " in line:
                    self.base_url = line.split("listening on ", 1)[1].split()[0]
                    break
                if not line and self._proc.poll() is not None:
                    break
        if not self.base_url:
            self.stop()
            raise RuntimeError("the sandbox process did not start")
        self._http = requests.Session()
        return self

    @property
    def graph_url(self) -> str:
        return f"{self.base_url}/v24.0"

    def _admin(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> Any:
        response = self._http.request(method, f"{self.base_url}/_sandbox{path}", json=body, timeout=60)
        response.raise_for_status()
        return response.json()

    def add_page(self, name: str) -> Page:
        if self._server is not None:
            record = self._server.add_page(name=name, anomaly=False)
            return Page(record.page_id, record.token, record.name)
        data = self._admin("POST", "/pages", {"name": name, "anomaly": False})
        return Page(data["page_id"], data["token"], data["name"])

    def objects(self, page_id: str) -> dict[str, list[dict[str, Any]]]:
        if self._server is not None:
            return self._server.objects(page_id)
        return self._admin("GET", f"/pages/{page_id}/objects")

    def stats(self) -> dict[str, Any]:
        if self._server is not None:
            return self._server.stats()
        return self._admin("GET", "/stats")

    def set_latency(self, latency_ms: float) -> None:
        if self._server is not None:
            self._server.set_faults(latency_ms=latency_ms)
        else:
            self._admin("POST", "/faults", {"latency_ms": latency_ms})

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None
        if self._proc is not None:
            if self._proc.poll() is None:
                os.killpg(self._proc.pid, signal.SIGTERM)
                try:
                    self._proc.wait(10)
                except subprocess.TimeoutExpired:
                    os.killpg(self._proc.pid, signal.SIGKILL)
                    self._proc.wait(10)
            self._proc = None


def stats_delta(after: Mapping[str, Any], before: Mapping[str, Any], key: str) -> dict[str, int]:
    """Per-key difference of one of the sandbox's counters (``calls_by_page``, ``calls_by_route``...)."""
    new, old = after.get(key) or {}, before.get(key) or {}
    return {k: int(v) - int(old.get(k, 0)) for k, v in new.items() if int(v) - int(old.get(k, 0))}


# ----------------------------------------------------------------------------------- figures

def percentile(values: Sequence[float], pct: float) -> float | None:
    """Nearest-rank percentile (no interpolation): the value below which ``pct``% of samples fall."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-pct * len(ordered) // 100))))
    return ordered[rank - 1]


def median(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def fmt(value: float | None, digits: int = 3, unit: str = "") -> str:
    return "n/a" if value is None else f"{value:.{digits}f}{unit}"


def machine() -> dict[str, Any]:
    load = os.getloadavg()
    return {"cpus": os.cpu_count(), "loadavg_1m_at_start": round(load[0], 2), "python": sys.version.split()[0]}


def json_line(data: Mapping[str, Any]) -> str:
    return json.dumps(data, default=str, sort_keys=False)


@contextmanager
def counting_io() -> Iterator[Counter[str]]:
    """Count what the code inside does to its stores: SQL statements by verb, commits, pool
    pre-pings and Redis commands. Used by the ``--profile`` runs to say where a publish or a pull
    spends its round trips."""
    import redis as redis_lib
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    from models.db import get_engine

    counts: Counter[str] = Counter()

    def on_execute(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        counts["sql statements"] += 1
        counts["sql " + statement.lstrip().split(None, 1)[0].upper()] += 1

    def on_commit(_conn: Any) -> None:
        counts["db commits"] += 1

    original_command = redis_lib.Redis.execute_command

    def counting_command(self: Any, *args: Any, **kwargs: Any) -> Any:
        counts[f"redis {args[0]}"] += 1
        return original_command(self, *args, **kwargs)

    dialect_class = type(get_engine().dialect)
    original_ping = dialect_class.do_ping

    def counting_ping(self: Any, dbapi_connection: Any) -> bool:
        counts["db pre-ping SELECT 1 (autocommit)"] += 1
        return original_ping(self, dbapi_connection)

    event.listen(Engine, "before_cursor_execute", on_execute)
    event.listen(Engine, "commit", on_commit)
    redis_lib.Redis.execute_command = counting_command  # type: ignore[method-assign]
    dialect_class.do_ping = counting_ping  # type: ignore[method-assign]
    try:
        yield counts
    finally:
        redis_lib.Redis.execute_command = original_command  # type: ignore[method-assign]
        dialect_class.do_ping = original_ping  # type: ignore[method-assign]
        event.remove(Engine, "before_cursor_execute", on_execute)
        event.remove(Engine, "commit", on_commit)
