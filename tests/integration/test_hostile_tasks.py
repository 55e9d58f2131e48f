"""Property test: any arguments for any of the 17 tasks, sent straight onto the queue of a real worker.

Every message is accounted for — a ``failed_jobs`` row with its task id (plain reasons, storable), or
a success the worker logged (and, for ``posts.intake``, the post it returned is stored) — and the
worker is alive at the end; on both databases. A second property pushes any JSON body under a real
task name. Sized by the hypothesis profile (``ci``: a few batches of ~40 messages; ``large``: many).
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from models import FailedJob, SocialPost
from models.db import transaction
from tasks.domain.contracts import TASK_ARGUMENTS, bind
from tasks.domain.errors import BadMessage
from tasks.domain.intake import intake
from tasks.domain.untrusted import first_forbidden
from tests.support.factories import connect, make_tenant
from tests.support.hostile import any_value, uuid_like, writer_payloads
from tests.support.raw_messages import headers, publish
from tests.support.waits import wait_for
from worker.app import app
from worker.core.queues import TaskName

pytestmark = pytest.mark.integration
FUTURE = "2030-01-02T10:00:00+00:00"
TERMINAL = re.compile(r"Task (?P<name>[\w.]+)\[(?P<id>[0-9a-f-]{36})\] (?P<outcome>succeeded|raised)")
INTAKE_RESULT = re.compile(r"'post_id': '(?P<post>[0-9a-f-]{36})'")


def batches(factor: int) -> Any:
    """A profile-scaled number of batches: each example is a whole batch sent to one worker."""
    return settings(max_examples=max(3, settings().max_examples // factor))


@pytest.fixture
def world(workers, sandbox):
    tenant_id = make_tenant("Queue hostile")
    page = sandbox.add_page(name="Hostile Page")
    integration_id = connect(tenant_id, page.page_id, page.token)
    with transaction() as session:
        post_id = intake(session, {"tenant_id": tenant_id, "integration_id": integration_id, "message": "real",
                                   "scheduled_at": FUTURE}).post_id
    worker = workers.start()
    return {"tenant": tenant_id, "integration": integration_id, "post": post_id, "worker": worker}


def _field_value(world: dict[str, Any]) -> Any:
    real = st.sampled_from([world["tenant"], world["integration"], world["post"]])
    return st.one_of(real, real, uuid_like(), any_value(), st.sampled_from(["week", "month", "2030-01",
                                                                           "2030-01-01", FUTURE, "ann"]))


def _arguments(draw: Any, world: dict[str, Any], task_name: str) -> tuple[Any, Any]:
    fields = list(TASK_ARGUMENTS[task_name].model_fields)
    value = _field_value(world)
    if task_name == TaskName.INTAKE:
        value = st.one_of(writer_payloads([world["tenant"]], [], [world["integration"]]), any_value())
    shape = draw(st.sampled_from(["positional", "keywords", "mixed", "garbage"]))
    if shape == "positional":
        return draw(st.lists(value, max_size=len(fields) + 1)), {}
    names = st.sampled_from(fields + ["unknown", "_transient_attempts"]) if fields else st.just("unknown")
    kwargs = draw(st.dictionaries(names, value, max_size=len(fields) + 1))
    if shape == "keywords":
        return [], kwargs
    if shape == "mixed":
        return draw(st.lists(value, max_size=2)), kwargs
    return draw(any_value()), draw(any_value())  # args/kwargs that are not a list/mapping at all


def _sendable(args: Any, kwargs: Any) -> bool:
    try:  # what the JSON serializer can write (an int over 4,300 digits cannot be)
        json.dumps([args, kwargs])
        return True
    except (ValueError, RecursionError):
        return False


def _send(task_name: str, args: Any, kwargs: Any) -> str:
    task_id = str(uuid.uuid4())
    if isinstance(args, (list, tuple)) and isinstance(kwargs, dict):
        app.send_task(task_name, args=args, kwargs=kwargs, task_id=task_id, queue="default")
    else:  # a Celery client would refuse to write this: put it on the wire by hand
        publish(app, json.dumps([args, kwargs, {}]), headers(task_name, id=task_id))
    return task_id


def _refused(task_name: str, args: Any, kwargs: Any) -> bool:
    """Whether the contract refuses these arguments (then only a failed_jobs row accounts for them)."""
    try:
        bind(task_name, args, kwargs)
        return False
    except BadMessage:
        return True


def _account(world: dict[str, Any], sent: dict[str, str], mark: int, must_fail: set[str] = frozenset()) -> None:
    """Every sent task id is a failed_jobs row or a logged success; the worker is alive. A message in
    ``must_fail`` (arguments the contract refuses) is accounted for only by its failed_jobs row: a
    "succeeded" log line for it would mean Celery acked it without running it (as it does for kwargs
    that are not a mapping)."""
    worker = world["worker"]

    def settled() -> dict[str, str] | None:
        with transaction() as session:
            failed = {job.task_id: job for job in session.scalars(select(FailedJob).where(
                FailedJob.task_id.in_(list(sent))))}
        log = worker.read_log_since(mark)
        outcomes = {m["id"]: m["outcome"] for m in TERMINAL.finditer(log)}
        done = {task_id: ("failed_job" if task_id in failed else outcomes.get(task_id)) for task_id in sent}
        if any(v is None or (v == "raised" and k not in failed) for k, v in done.items()):
            return None
        unrecorded = [sent[k] for k in must_fail if done[k] != "failed_job"]
        assert not unrecorded, f"refused arguments left no failed_jobs row: {unrecorded}"
        for job in failed.values():
            text = json.dumps([job.args, job.kwargs, job.error_message], ensure_ascii=False, allow_nan=False)
            assert first_forbidden(text) is None and "Traceback" not in job.error_message
        return {k: v for k, v in done.items()}

    done = wait_for(settled, timeout=120, interval=0.3, what=f"{len(sent)} messages accounted for")
    assert worker.proc.poll() is None, "the worker died"
    log = worker.read_log_since(mark)
    for match in TERMINAL.finditer(log):
        if match["name"] == TaskName.INTAKE and match["outcome"] == "succeeded" and match["id"] in sent:
            line = log[match.end(): log.find("\n", match.end())]
            post = INTAKE_RESULT.search(line)
            assert post, line
            with transaction() as session:
                assert session.get(SocialPost, post["post"]) is not None, "intake reported a post that is not stored"
    assert set(done) == set(sent)


@batches(factor=5)
@given(data=st.data())
def test_any_arguments_for_every_task_are_accounted_for(world, data):
    mark = world["worker"].log_size()
    sent: dict[str, str] = {}
    must_fail: set[str] = set()
    for task_name in sorted(TASK_ARGUMENTS):
        for _ in range(2):
            args, kwargs = _arguments(data.draw, world, task_name)
            if _sendable(args, kwargs):
                task_id = _send(task_name, args, kwargs)
                sent[task_id] = task_name
                if _refused(task_name, args, kwargs):
                    must_fail.add(task_id)
    _account(world, sent, mark, must_fail)


@batches(factor=5)
@given(bodies=st.lists(st.tuples(st.sampled_from(sorted(TASK_ARGUMENTS)), any_value()), min_size=5, max_size=15))
def test_any_body_under_a_real_task_name_is_accounted_for(world, bodies):
    mark = world["worker"].log_size()
    sent: dict[str, str] = {}
    for task_name, body in bodies:
        try:
            text = json.dumps(body)
        except (ValueError, RecursionError):
            continue
        task_id = str(uuid.uuid4())
        publish(app, text, headers(task_name, id=task_id))
        sent[task_id] = task_name
    _account(world, sent, mark)
