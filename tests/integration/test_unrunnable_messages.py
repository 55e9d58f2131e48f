"""Messages Celery cannot run are kept where an operator sees them, and never end the worker.

Raw messages pushed onto real Redis for a real worker (solo, and prefork for the ones that used to
kill it): each becomes a ``failed_jobs`` row with the task name (or "unknown"), an error class, a
plain reason and the redacted raw message; the queue is empty afterwards and the worker still runs
the next good message. On both databases.
"""

from __future__ import annotations

import json
import uuid

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from models import FailedJob
from models.db import transaction
from tests.conftest import worker_env
from tests.support.raw_messages import headers, publish, push_item
from tests.support.stack import WorkerProcess
from tests.support.waits import wait_for
from worker.app import app
from worker.cli import cli

pytestmark = pytest.mark.integration
POST = str(uuid.uuid4())
BODY = json.dumps([[POST], {}, {"callbacks": None, "errbacks": None, "chain": None, "chord": None}])

# (name, how to send it, task name stored, error class, a fragment of the reason)
CASES = [
    ("body not JSON", lambda r: publish(app, b"not json{", headers()), "publishing.publish_post", "UndecodableBody",
     "the body is not JSON"),
    ("kwargs a list", lambda r: publish(app, json.dumps([[POST], [1, 2], {}]), headers()), "publishing.publish_post",
     "InvalidArguments", "kwargs must be an object, got list"),
    ("args a number", lambda r: publish(app, json.dumps([5, {}, {}]), headers()), "publishing.publish_post",
     "InvalidArguments", "args must be a list, got number"),
    ("body an object", lambda r: publish(app, json.dumps({"post_id": POST}), headers()), "publishing.publish_post",
     "MalformedMessage", "the body must be [args, kwargs, embed]"),
    ("embed a list", lambda r: publish(app, json.dumps([[POST], {}, [1]]), headers()), "publishing.publish_post",
     "MalformedMessage", "embed (the body's third item) must be an object"),
    ("unknown task", lambda r: publish(app, BODY, headers("nope.nothing")), "nope.nothing", "UnknownTask",
     "no socialcal worker runs a task named 'nope.nothing'"),
    ("no id header", lambda r: publish(app, BODY, {k: v for k, v in headers().items() if k != "id"}),
     "publishing.publish_post", "MalformedMessage", "header id must be the task id"),
    ("task not text", lambda r: publish(app, BODY, headers(7)), "unknown", "MalformedMessage",
     "header task must name a task, got number"),
    ("bad eta", lambda r: publish(app, BODY, headers(eta="tomorrow")), "publishing.publish_post", "MalformedMessage",
     "header eta is not an ISO 8601 time"),
    ("yaml body", lambda r: publish(app, b"a: 1", headers(), content_type="application/x-yaml"),
     "publishing.publish_post", "ContentDisallowed", "socialcal takes application/json"),
    ("integer too long", lambda r: publish(app, b"[[" + b"1" * 5000 + b"], {}, {}]", headers()),
     "publishing.publish_post", "UndecodableBody", "the body is not JSON"),
    ("no envelope", lambda r: push_item(r, b"garbage, not even JSON"), "unknown", "MalformedEnvelope",
     "the queue item is not JSON"),
    ("bare body", lambda r: push_item(r, json.dumps({"task": "x"}).encode()), "unknown", "MalformedEnvelope",
     "is not a Celery message envelope"),
    ("token in body", lambda r: publish(app, b'{"access_token": "EAAsecretsecretsecret0123456789"', headers()),
     "publishing.publish_post", "UndecodableBody", "the body is not JSON"),
]


def _rows() -> list[FailedJob]:
    with transaction() as session:
        return list(session.scalars(select(FailedJob).order_by(FailedJob.created_at)))


def _check_every_case_is_kept(worker: WorkerProcess, redis_client, cases) -> None:
    for _name, send, *_ in cases:
        send(redis_client)
    rows = wait_for(lambda: (lambda found: found if len(found) >= len(cases) else None)(_rows()), timeout=60,
                    what=f"{len(cases)} failed_jobs rows")
    assert len(rows) == len(cases), [(r.task_name, r.error_message) for r in rows]
    unmatched = list(rows)
    for name, _send, task_name, error_class, fragment in cases:
        row = next((r for r in unmatched if (r.task_name, r.error_class) == (task_name, error_class)
                    and fragment in r.error_message), None)
        assert row is not None, (name, [(r.task_name, r.error_class, r.error_message) for r in unmatched])
        unmatched.remove(row)
        assert row.raw_message is not None and row.hint, name
        assert "Traceback" not in row.error_message
        assert "EAAsecret" not in json.dumps(row.raw_message), "a token reached failed_jobs"
    assert worker.proc is not None and worker.proc.poll() is None, "the worker died"
    assert redis_client.llen("default") == 0
    # ... and still runs the next good message.
    app.send_task("publishing.dispatch_due", queue="default")
    wait_for(lambda: "publishing.dispatch_due" in worker.read_log() and "succeeded" in worker.read_log(),
             what="the worker to run a good message after the bad ones")


def test_unrunnable_messages_are_kept_solo(workers, redis_client):
    worker = workers.start(queues=("default",))
    _check_every_case_is_kept(worker, redis_client, CASES)
    shown = CliRunner().invoke(cli, ["jobs", "list", "--json"])
    assert shown.exit_code == 0 and len(json.loads(shown.output)) == len(CASES)


def test_unrunnable_messages_never_end_a_prefork_worker(workers, db, sandbox, redis_client, tmp_path):
    worker = WorkerProcess(worker_env(db, sandbox), tmp_path, ("default",), pool="prefork", concurrency=1)
    workers.started.append(worker)
    worker.start()
    deadly = [c for c in CASES if c[0] in ("body an object", "embed a list", "no id header", "no envelope",
                                           "bare body", "kwargs a list")]
    _check_every_case_is_kept(worker, redis_client, deadly)
