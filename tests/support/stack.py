"""Throwaway parts of a real socialcal stack: a fresh migrated database and real worker processes.

The one helper tests and benchmarks share (``bench/`` imports it too): a database made for one run
and dropped after it, and ``celery worker`` processes (never eager mode). Each worker is one OS
process (``--pool solo`` by default), so a test can SIGKILL exactly the process that holds a task
and two workers really race for one message.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from tests.support.waits import wait_for
from worker.core.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
PG_ADMIN_URL = os.environ.get("SOCIALCAL_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


# ----------------------------------------------------------------------------------- database

def create_database(backend: str, directory: Path, *, admin_url: str = PG_ADMIN_URL,
                    prefix: str = "socialcal_test") -> str:
    """A new, migrated, empty database (a SQLite file in ``directory``, or a PostgreSQL database
    named ``<prefix>_<random>``); returns its SQLAlchemy URL."""
    from models.migrate import upgrade

    if backend == "sqlite":
        url = f"sqlite:///{directory / f'socialcal-{uuid.uuid4().hex[:8]}.db'}"
    elif backend == "postgresql":
        import psycopg

        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        url = admin_url.rsplit("/", 1)[0] + f"/{name}"
    else:
        raise ValueError(f"unknown backend {backend!r}")
    upgrade(url)
    return url


def drop_database(url: str, *, admin_url: str = PG_ADMIN_URL) -> None:
    """Close this process's pools and drop the database (a SQLite file is deleted with its WAL)."""
    from models.db import dispose_engines

    dispose_engines()
    if url.startswith("sqlite"):
        path = Path(url.split("///", 1)[1])
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
        return
    import psycopg

    name = url.rsplit("/", 1)[1]
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# ----------------------------------------------------------------------------------- workers

class WorkerProcess:
    """One ``celery -A <app> worker`` process with its own log file."""

    def __init__(self, env: Mapping[str, str], log_dir: Path, queues: Iterable[str], name: str | None = None,
                 pool: str = "solo", concurrency: int = 1, app: str = "worker.app:app",
                 loglevel: str = "INFO") -> None:
        self.env = dict(env)
        self.name = name or f"w{uuid.uuid4().hex[:6]}"
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = log_dir / f"{self.name}.log"
        self.queues = ",".join(queues)
        self.pool = pool
        self.concurrency = concurrency
        self.app = app
        self.loglevel = loglevel
        self.proc: subprocess.Popen[bytes] | None = None

    def launch(self) -> "WorkerProcess":
        """Start the process without waiting for it (``wait_ready`` waits)."""
        self._log = open(self.log_path, "ab")
        cmd = [sys.executable, "-m", "celery", "-A", self.app, "worker", "-Q", self.queues,
               "--pool", self.pool, "--concurrency", str(self.concurrency), "-n", f"{self.name}@%h",
               "--without-mingle", "--without-gossip", "--loglevel", self.loglevel]
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=self.env, stdout=self._log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        return self

    def wait_ready(self, timeout: float = 30.0) -> "WorkerProcess":
        proc = self.proc
        assert proc is not None

        recovers = self.app == "worker.app:app" and Settings.from_env(self.env).recover_on_start

        def ready() -> bool:
            if proc.poll() is not None:
                raise RuntimeError(f"worker {self.name} exited at start:\n{self.read_log()[-4000:]}")
            log_bytes = self.log_path.read_bytes()
            if b" ready." not in log_bytes:
                return False
            # The start-up recovery (tasks.domain.recovery) runs in a thread once the worker is ready and
            # may send wake-ups of its own: a test starts from a worker that has finished it, or those
            # wake-ups race the test's own messages.
            return not recovers or b'"recovered_after_start"' in log_bytes or b'"recovery_failed"' in log_bytes

        try:
            wait_for(ready, timeout, interval=0.1, what=f"worker {self.name} ready")
        except AssertionError:
            raise RuntimeError(f"worker {self.name} not ready in {timeout}s:\n{self.read_log()[-4000:]}") from None
        return self

    def start(self, timeout: float = 30.0) -> "WorkerProcess":
        return self.launch().wait_ready(timeout)

    @property
    def node_name(self) -> str:
        """What Celery remote control calls this worker (``name@host``)."""
        import socket

        return f"{self.name}@{socket.gethostname()}"

    def read_log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_size(self) -> int:
        return self.log_path.stat().st_size if self.log_path.exists() else 0

    def read_log_since(self, mark: int) -> str:
        with open(self.log_path, "rb") as handle:
            handle.seek(mark)
            return handle.read().decode(errors="replace")

    @property
    def pids(self) -> list[int]:
        """The main process and, for prefork, its children: every process that may hold a task."""
        if self.proc is None:
            return []
        children = subprocess.run(["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True).stdout.split()
        return [self.proc.pid, *map(int, children)]

    def cpu_seconds(self) -> float:
        """User+system CPU this worker's processes have used so far (from /proc; Linux)."""
        return sum(process_cpu_seconds(pid) for pid in self.pids)

    def kill(self) -> None:
        """SIGKILL the whole worker: no chance to ack, requeue or clean up."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self, timeout: float = 15.0) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        if getattr(self, "_log", None):
            self._log.close()


class WorkerGroup:
    """``count`` worker processes started together (benchmarks)."""

    def __init__(self, app: str, queues: Sequence[str], env: Mapping[str, str], count: int, log_dir: Path,
                 prefix: str, loglevel: str = "INFO", pool: str = "solo", concurrency: int = 1) -> None:
        self.workers = [WorkerProcess(env, log_dir, queues, name=f"{prefix}{n}-{uuid.uuid4().hex[:4]}", pool=pool,
                                      concurrency=concurrency, app=app, loglevel=loglevel) for n in range(count)]

    def start(self, timeout: float = 60.0) -> "WorkerGroup":
        for worker in self.workers:
            worker.launch()
        for worker in self.workers:
            worker.wait_ready(timeout)
        return self

    @property
    def node_names(self) -> list[str]:
        return [w.node_name for w in self.workers]

    @property
    def pids(self) -> list[int]:
        return [pid for w in self.workers for pid in w.pids]

    def cpu_seconds(self) -> float:
        return sum(w.cpu_seconds() for w in self.workers)

    def logs(self) -> str:
        return "\n".join(w.read_log() for w in self.workers)

    def log_marks(self) -> list[int]:
        """Current size of each worker's log, to read only what is written after this point."""
        return [w.log_size() for w in self.workers]

    def logs_since(self, marks: Sequence[int]) -> str:
        return "\n".join(w.read_log_since(mark) for w, mark in zip(self.workers, marks))

    def stop(self, timeout: float = 20.0) -> None:
        for worker in self.workers:
            worker.stop(timeout)


def process_cpu_seconds(pid: int | None = None) -> float:
    """CPU used so far by a process (default: this one, including its threads)."""
    if pid is None:
        times = os.times()
        return times.user + times.system
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks
