"""Recovery after every worker is SIGKILLed mid-publish, at production settings.

A backlog of approved posts drains through ``--workers`` real workers. The sandbox holds the answer
to each worker's first create call past the Graph timeout (the post is created, the answer lost), so
when every worker is killed each one is inside a call whose outcome our database does not know.
Then one worker starts, with nothing else running (no beat): its start-up recovery must take back the
leases and lost wake-ups. Printed: time from the kill and from the new worker being ready until every
approved post is on the Page, duplicates and losses, and the settings in force (lease, Graph timeout,
re-dispatch window; the production defaults unless overridden).

    .venv/bin/python -m bench.recovery                         # 30 posts, 3 workers, defaults
    .venv/bin/python -m bench.recovery --posts 60 --lease 90 --graph-timeout 30
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

from bench import _common as common
from tests.support.stack import WorkerProcess


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--posts", type=int, default=30)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--lease", type=int, default=None, help="SOCIALCAL_PUBLISH_LEASE_SECONDS (default: product's)")
    parser.add_argument("--graph-timeout", type=float, default=None, help="SOCIALCAL_GRAPH_TIMEOUT_SECONDS")
    parser.add_argument("--timeout", type=float, default=600, help="give up after this many seconds")
    parser.add_argument("--db", choices=("postgresql", "sqlite"), default="postgresql")
    args = parser.parse_args(argv)

    from worker.core.settings import Settings

    defaults = Settings()
    lease = args.lease or defaults.publish_lease_seconds
    graph_timeout = args.graph_timeout or defaults.graph_timeout_seconds
    extra = {"SOCIALCAL_PUBLISH_LEASE_SECONDS": str(lease), "SOCIALCAL_GRAPH_TIMEOUT_SECONDS": str(graph_timeout)}

    sandbox = common.Sandbox(mode="thread").start()
    database_url = common.create_database(args.db)
    env = common.configure(database_url, sandbox.graph_url, extra=extra)
    common.flush_redis()
    log_dir = Path(tempfile.mkdtemp(prefix="socialcal-bench-recovery-"))
    print(f"logs in {log_dir}", file=sys.stderr)
    workers: list[WorkerProcess] = []
    try:
        import worker.app  # noqa: F401 - the domain sends through the current (socialcal) app
        from models import SocialPost
        from models.db import transaction
        from tests.support.factories import connect, make_tenant
        from tests.support.pipeline import approve_post, write_post

        page = sandbox.add_page("Recovery")
        tenant_id = make_tenant("recovery")
        connect(tenant_id, page.page_id, page.token)
        when = (datetime.now(timezone.utc) + timedelta(days=3)).replace(microsecond=0)
        post_ids = [write_post(tenant_id, f"recovery {i}", when=(when + timedelta(minutes=i)).isoformat())
                    for i in range(args.posts)]
        hold = graph_timeout + 30  # past our timeout: the call's outcome stays unknown to the worker
        sandbox._server.set_faults([{"method": "POST", "path": "feed", "mode": "timeout", "seconds": hold,
                                     "rate": 1.0, "count": args.workers}])
        workers = [WorkerProcess(env, log_dir, ("publish", "default"), name=f"doomed{n}").start()
                   for n in range(args.workers)]
        for post_id in post_ids:
            approve_post(post_id)

        def rows() -> list[SocialPost]:
            with transaction() as session:
                found = list(session.query(SocialPost).filter(SocialPost.id.in_(post_ids)))
                for row in found:
                    session.expunge(row)
                return found

        deadline = time.monotonic() + 60
        while sum(1 for r in rows() if (r.publish_intent or {}).get("in_flight")) < args.workers:
            if time.monotonic() > deadline:
                raise RuntimeError("the workers never got inside their create calls")
            time.sleep(0.2)
        for proc in workers:
            proc.kill()
        killed_at = time.monotonic()
        in_publishing = sum(1 for r in rows() if r.status == "publishing")
        sandbox._server.set_faults([])
        survivor = WorkerProcess(env, log_dir, ("publish", "default"), name="survivor").start()
        workers.append(survivor)
        ready_at = time.monotonic()
        while True:
            statuses = Counter(r.status for r in rows())
            if statuses.get("scheduled", 0) == len(post_ids) or time.monotonic() - killed_at > args.timeout:
                break
            time.sleep(0.5)
        done_at = time.monotonic()
        on_page = Counter(p["message"] for p in sandbox.objects(page.page_id)["posts"] if not p["deleted"])
        wanted = Counter(f"recovery {i}" for i in range(args.posts))
        figures = {
            "posts": args.posts, "workers_killed": args.workers, "publishing_at_kill": in_publishing,
            "lease_s": lease, "graph_timeout_s": graph_timeout,
            "redispatch_after_s": defaults.redispatch_after_seconds, "beat_running": False,
            "worker_start_s": round(ready_at - killed_at, 1),
            "all_on_page_after_kill_s": round(done_at - killed_at, 1),
            "all_on_page_after_worker_ready_s": round(done_at - ready_at, 1),
            "statuses": dict(statuses), "duplicates": sum((on_page - wanted).values()),
            "lost": sum((wanted - on_page).values()), **common.machine(),
        }
        print(f"{args.workers} workers SIGKILLed with {in_publishing} posts mid-publish; one worker started "
              f"{figures['worker_start_s']} s later (lease {lease} s, Graph timeout {graph_timeout:g} s, no beat)")
        print(f"every approved post on the Page {figures['all_on_page_after_worker_ready_s']} s after it was ready "
              f"({figures['all_on_page_after_kill_s']} s after the kill); duplicates {figures['duplicates']}, "
              f"lost {figures['lost']}")
        print(common.json_line(figures))
        return 0
    finally:
        for proc in workers:
            proc.stop()
        sandbox.stop()
        common.flush_redis()
        common.drop_database(database_url)


if __name__ == "__main__":
    sys.exit(main())
