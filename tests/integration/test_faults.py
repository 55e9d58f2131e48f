"""The fault suite: while a backlog of approved posts drains through real workers, every kind of hard
fault fires, and at the end every approved post is on the sandbox Page exactly once.

Faults, in the order the drain reaches them (by share of posts final), plus random single kills:

* every worker SIGKILLed at once, one started again (its start-up recovery takes back what they held);
* Redis flushed (every queued and unacked message gone);
* Redis restarted (the server killed and started afresh: connections cut, everything in it lost);
* PostgreSQL restarted (``fast``: every session cut off, mid-transaction or not);
* the sandbox fails 10% of /feed and /photos calls ambiguously (``apply_then_fail``: the post is
  created, the answer is lost; ``drop``) and throttles (code 32) in bursts.

Redis and PostgreSQL are the test's own (``tests/integration/conftest.py``), never the shared ones.
The run prints one JSON line of figures: posts, faults fired by kind, duplicates, losses, and the
longest recovery after a kill (from the kill until every post then ``publishing`` was final).

Size: ``--fault-posts`` (default 60 in CI; ``--fault-posts 500`` for the larger run).
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import pytest

from models import FINAL_STATUSES, PostStatus, SocialPost
from models.db import transaction
from tests.conftest import WorkerFactory
from tests.support.beat import FastBeat
from tests.support.factories import connect, make_tenant
from tests.support.pipeline import approve_post, future, live_posts, write_post
from worker.core.settings import get_settings

pytestmark = [pytest.mark.integration, pytest.mark.faults]

WORKER_ENV = {
    "SOCIALCAL_PUBLISH_LEASE_SECONDS": "6",
    "SOCIALCAL_GRAPH_TIMEOUT_SECONDS": "2",
    # A 10 s budget window keeps 200 calls per window, and caps default throttle pauses at 10 s.
    "SOCIALCAL_GRAPH_BUDGET_WINDOW_SECONDS": "10",
    "SOCIALCAL_MAX_TRANSIENT_RETRIES": "8",
    "SOCIALCAL_REDISPATCH_AFTER_SECONDS": "3",
}
WORKERS = 3


@dataclass
class Kill:
    kind: str
    at: float
    held: set[str]
    recovered_after: float | None = None


@dataclass
class Run:
    kills: list[Kill] = field(default_factory=list)
    fired: Counter[str] = field(default_factory=Counter)


class Monitor(threading.Thread):
    """Reads every post's status four times a second (the drain loop itself blocks while a worker
    starts or a server restarts) and times each kill's recovery."""

    def __init__(self, post_ids: list[str], run: Run) -> None:
        super().__init__(daemon=True)
        self.post_ids, self.run_ = post_ids, run
        self.statuses: dict[str, str] = {}
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.25):
            statuses = _statuses(self.post_ids)
            if statuses is None:
                continue
            self.statuses = statuses
            final = {k for k, v in statuses.items() if v in FINAL_STATUSES}
            for kill in list(self.run_.kills):
                if kill.recovered_after is None and kill.held <= final:
                    kill.recovered_after = time.monotonic() - kill.at

    def publishing(self) -> set[str]:
        return {k for k, v in self.statuses.items() if v == PostStatus.PUBLISHING}


def _statuses(post_ids: list[str]) -> dict[str, str] | None:
    """Every post's status, or None while our own database is down."""
    try:
        with transaction() as session:
            return dict(session.query(SocialPost.id, SocialPost.status).filter(SocialPost.id.in_(post_ids)).all())
    except Exception:  # noqa: BLE001
        return None


def test_every_approved_post_lands_exactly_once_under_faults(own_postgres, own_pg_db, own_redis, own_broker_app,
                                                            sandbox, tmp_path, monkeypatch, request):
    size = request.config.getoption("--fault-posts")
    rng = random.Random(20261121)
    monkeypatch.setenv("SOCIALCAL_REDISPATCH_AFTER_SECONDS", "3")  # this process plays beat
    get_settings.cache_clear()
    broker = own_redis.url()

    pages = []
    for number in range(3):
        record = sandbox.add_page(name=f"Fault Page {number}")
        tenant_id = make_tenant(f"tenant {number}")
        connect(tenant_id, record.page_id, record.token)
        pages.append((tenant_id, record))
    expected: dict[str, list[str]] = {record.page_id: [] for _, record in pages}
    post_ids = []
    for i in range(size):
        tenant_id, record = pages[i % 3]
        message = f"fault post {i}"
        media = None
        if i % 5 == 3:
            media = [{"url": f"https://cdn.example/{i}.jpg", "type": "image"}]
        elif i % 5 == 4:
            media = [{"url": f"https://cdn.example/{i}-{k}.jpg", "type": "image"} for k in range(3)]
        post_ids.append(write_post(tenant_id, message, when=future(days=3 + i / 1000),
                                   **({"media": media} if media else {})))
        expected[record.page_id].append(message)

    sandbox.set_faults(latency_ms=150, rules=[  # latency: a kill mostly finds workers inside a Graph call
        {"method": "POST", "path": "feed|photos", "mode": "apply_then_fail", "rate": 0.05},
        {"method": "POST", "path": "feed|photos", "mode": "drop", "rate": 0.05},
        {"method": "POST", "path": "feed|photos", "mode": "error", "code": 32, "rate": 0.01, "burst": 3},
    ])
    factory = WorkerFactory(own_pg_db, sandbox, tmp_path / "logs")
    started = 0

    def start_worker() -> object:
        nonlocal started
        started += 1
        return factory.start(name=f"fault{started}", SOCIALCAL_BROKER_URL=broker, **WORKER_ENV)

    procs = [start_worker() for _ in range(WORKERS)]
    run = Run()

    def publishing_now() -> set[str]:
        statuses = _statuses(post_ids)
        return {k for k, v in (statuses or {}).items() if v == PostStatus.PUBLISHING} or monitor.publishing()

    # The hard faults, each fired once when this share of the posts is final.
    def kill_all() -> None:
        held = publishing_now()
        for proc in procs:
            proc.kill()
        run.kills.append(Kill("all workers", time.monotonic(), held))
        procs[0] = start_worker()  # one comes back at once; the others on the next rounds
        for n in range(1, len(procs)):
            procs[n] = None  # type: ignore[call-overload]

    def flush() -> None:
        own_redis_client().flushdb()

    def own_redis_client():  # type: ignore[no-untyped-def]
        import redis

        return redis.Redis(port=own_redis.port)

    plan = [(0.15, "all workers killed", kill_all), (0.30, "redis flushed", flush),
            (0.45, "redis restarted", lambda: own_redis.restart(down_for=2.0)),
            (0.60, "postgresql restarted", lambda: own_postgres.restart(down_for=2.0))]

    beat = FastBeat()
    beat.start()
    monitor = Monitor(post_ids, run)
    monitor.start()
    try:
        for post_id in post_ids:
            approve_post(post_id)
        deadline = time.monotonic() + 240 + size * 1.5
        while time.monotonic() < deadline:
            statuses = _statuses(post_ids)
            if statuses is None:
                time.sleep(0.5)
                continue
            final = {k for k, v in statuses.items() if v in FINAL_STATUSES}
            if len(final) == len(post_ids) and all(k.recovered_after is not None for k in run.kills):
                break
            if plan and len(final) >= plan[0][0] * len(post_ids):
                _, kind, fire = plan.pop(0)
                fire()
                run.fired[kind] += 1
            for n, proc in enumerate(procs):
                if proc is None:
                    procs[n] = start_worker()
                    break
            if run.fired["single worker killed"] < 6 and rng.random() < 0.3 and all(procs):
                victim = rng.randrange(len(procs))
                held = publishing_now()
                procs[victim].kill()
                run.kills.append(Kill("single worker", time.monotonic(), held))
                run.fired["single worker killed"] += 1
                procs[victim] = start_worker()
            time.sleep(rng.uniform(0.5, 2.0))
    finally:
        monitor.stop.set()
        monitor.join(5)
        beat.close()
        factory.stop_all()

    statuses = _statuses(post_ids) or {}
    not_final = {k: v for k, v in statuses.items() if v not in FINAL_STATUSES}
    assert not not_final, f"posts not in a final status: {not_final}"
    assert set(statuses.values()) == {PostStatus.SCHEDULED}, sorted(set(statuses.values()))
    duplicates = lost = 0
    for _, record in pages:
        on_page = Counter(p["message"] for p in live_posts(sandbox, record.page_id))
        wanted = Counter(expected[record.page_id])
        duplicates += sum((on_page - wanted).values())
        lost += sum((wanted - on_page).values())
    assert (duplicates, lost) == (0, 0), f"{duplicates} duplicates and {lost} losses on the Pages"
    assert not plan, f"faults never fired: {[kind for _, kind, _ in plan]}"
    assert run.fired["single worker killed"] >= 1
    logs = factory.logs()
    for _, record in pages:
        assert record.token not in logs
    stats = sandbox.stats()
    sandbox_faults = dict(stats.get("faults_fired") or {})
    recoveries = [k.recovered_after for k in run.kills if k.recovered_after is not None]
    figures = {
        "posts": size, "duplicates": duplicates, "lost": lost,
        "faults_fired": {**dict(run.fired), **{f"sandbox {mode}": n for mode, n in sandbox_faults.items() if n}},
        "longest_recovery_after_kill_s": round(max(recoveries), 1) if recoveries else None,
        "recovery_after_kill_all_s": next((round(k.recovered_after or 0, 1) for k in run.kills
                                           if k.kind == "all workers"), None),
        "kills": [[k.kind, len(k.held), round(k.recovered_after or -1, 1)] for k in run.kills],
        "beat_runs": beat.runs, "beat_runs_failed": beat.errors, "sandbox_calls": stats.get("total_calls"),
    }
    print("fault suite:", json.dumps(figures, sort_keys=True))
