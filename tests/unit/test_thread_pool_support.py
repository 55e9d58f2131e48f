"""What a ``--pool threads`` publish worker relies on: a session per thread, a pool per thread count,
and ``socialcal worker`` running the publish queue on threads and the other queues as before."""

from __future__ import annotations

import threading
from types import SimpleNamespace

from graph.http import ThreadSessions
from models import db as models_db
from worker.app import _size_database_pool, uses_threads
from worker.cli.runtime_cmds import PUBLISH_THREADS, worker_commands


def test_each_thread_gets_its_own_http_session_and_keeps_it():
    sessions = ThreadSessions()
    mine = sessions.current()
    assert sessions.current() is mine
    seen: list[object] = []
    thread = threading.Thread(target=lambda: seen.append(sessions.current()))
    thread.start()
    thread.join()
    assert seen and seen[0] is not mine


def test_a_thread_pool_worker_sizes_the_database_pool_to_its_threads(monkeypatch):
    monkeypatch.setattr(models_db, "_pool_size", models_db.DEFAULT_POOL_SIZE)
    threads = SimpleNamespace(pool_cls=type("TaskPool", (), {"__module__": "celery.concurrency.thread"}),
                              concurrency=16)
    solo = SimpleNamespace(pool_cls=type("TaskPool", (), {"__module__": "celery.concurrency.solo"}), concurrency=1)
    assert uses_threads(threads) and not uses_threads(solo)
    _size_database_pool(sender=solo)
    assert models_db._pool_size == models_db.DEFAULT_POOL_SIZE
    _size_database_pool(sender=threads)
    assert models_db._pool_size >= 16


def test_the_default_worker_runs_publish_on_threads_and_the_rest_on_prefork():
    publish, rest = worker_commands(["publish", "default", "insights"], None, PUBLISH_THREADS, [])
    assert publish[:7] == ["worker", "-Q", "publish", "--pool", "threads", "--concurrency", str(PUBLISH_THREADS)]
    assert rest[:5] == ["worker", "-Q", "default,insights", "--pool", "prefork"]
    assert "-n" in publish  # two workers on one host need two node names
    assert PUBLISH_THREADS >= 8


def test_a_publish_only_worker_is_one_thread_pool_worker():
    (only,) = worker_commands(["publish"], 24, PUBLISH_THREADS, ["--prefetch-multiplier", "1"])
    assert only[:7] == ["worker", "-Q", "publish", "--pool", "threads", "--concurrency", "24"]
    assert only[-2:] == ["--prefetch-multiplier", "1"]
    (other,) = worker_commands(["insights"], 2, PUBLISH_THREADS, [])
    assert other[:7] == ["worker", "-Q", "insights", "--pool", "prefork", "--concurrency", "2"]
