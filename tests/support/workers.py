"""Real Celery worker processes for integration and fault tests (never eager mode).

Each worker is ``celery -A worker.app:app worker --pool solo``: one OS process per worker, so a test
can SIGKILL exactly the process that holds a task, and two workers really race for one message.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Iterable

ROOT = Path(__file__).resolve().parents[2]


class WorkerProcess:
    def __init__(self, env: dict[str, str], log_dir: Path, queues: Iterable[str], name: str | None = None,
                 pool: str = "solo", concurrency: int = 1) -> None:
        self.env = env
        self.name = name or f"w{uuid.uuid4().hex[:6]}"
        self.log_path = log_dir / f"{self.name}.log"
        self.queues = ",".join(queues)
        self.pool = pool
        self.concurrency = concurrency
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> "WorkerProcess":
        self._log = open(self.log_path, "ab")
        cmd = [sys.executable, "-m", "celery", "-A", "worker.app:app", "worker", "-Q", self.queues,
               "--pool", self.pool, "--concurrency", str(self.concurrency), "-n", f"{self.name}@%h",
               "--without-mingle", "--without-gossip", "--loglevel", "INFO"]
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=self.env, stdout=self._log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker {self.name} exited at start:\n{self.read_log()[-4000:]}")
            if b" ready." in self.log_path.read_bytes():
                return self
            time.sleep(0.1)
        raise RuntimeError(f"worker {self.name} not ready in {timeout}s:\n{self.read_log()[-4000:]}")

    def read_log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    @property
    def pids(self) -> list[int]:
        """The main process and, for prefork, its children: every process that may hold a task."""
        if self.proc is None:
            return []
        children = subprocess.run(["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True).stdout.split()
        return [self.proc.pid, *map(int, children)]

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
