"""The message contracts: one definition gives validation and the JSON Schema files, which cannot drift.

* ``schemas/`` in the repo is exactly what the code generates (``socialcal schemas export``).
* Every registered task has a contract whose fields are the shell's parameters, in order.
* What arrives is checked with plain reasons naming the field — never pydantic's raw text.
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from tasks.domain.contracts import TASK_ARGUMENTS, bind
from tasks.domain.contracts.export import differences, render, schema_documents
from tasks.domain.errors import BadMessage
from tests.support.hostile import any_value, uuid_like
from worker.app import app
from worker.cli import cli
from worker.core.queues import TASK_NAMES

ROOT = Path(__file__).resolve().parents[2]
POST = "6f1d3c2a-6b1e-4c4e-9a57-1f7d2c9b8e10"


def test_the_schema_files_in_the_repo_are_what_the_code_generates():
    problems = differences(ROOT / "schemas")
    assert problems == [], f"run `socialcal schemas export` and commit: {problems}"


def test_export_writes_every_file_and_check_sees_drift(tmp_path):
    runner = CliRunner()
    assert runner.invoke(cli, ["schemas", "export", "--dir", str(tmp_path)]).exit_code == 0
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*.json")) == sorted(schema_documents())
    assert runner.invoke(cli, ["schemas", "export", "--dir", str(tmp_path), "--check"]).exit_code == 0
    (tmp_path / "tasks" / "approval.approve.json").write_text("{}")
    (tmp_path / "tasks" / "old.task.json").write_text("{}")
    drift = runner.invoke(cli, ["schemas", "export", "--dir", str(tmp_path), "--check"])
    assert drift.exit_code == 1 and "2 schema file(s) out of date" in drift.output
    assert len(differences(tmp_path)) == 2


def test_every_file_is_a_valid_versioned_json_schema():
    for path, document in schema_documents().items():
        jsonschema.Draft202012Validator.check_schema(document)
        assert document["$id"].endswith(":v1") and document["x-socialcal"]["schema_version"] == 1, path
        assert json.loads(render(document)) == document


def test_every_task_has_a_contract_matching_its_shell():
    app.loader.import_default_modules()
    registered = {name for name in app.tasks if not name.startswith("celery.")}
    assert registered == TASK_NAMES == set(TASK_ARGUMENTS)
    for name, model in TASK_ARGUMENTS.items():
        parameters = [p.name for p in inspect.signature(app.tasks[name].run).parameters.values()
                      if p.kind is not inspect.Parameter.VAR_KEYWORD]
        assert parameters == list(model.model_fields), name
        schema = schema_documents()[f"tasks/{name}.json"]
        assert schema["x-socialcal"]["positional_order"] == parameters


def test_unknown_keywords_are_ignored_and_ids_come_out_canonical():
    bound = bind("approval.approve", [POST.upper().replace("-", "")], {"approver": " ann ", "content_hash": "h",
                                                                     "from_a_newer_caller": {"x": 1},
                                                                     "_transient_attempts": 2})
    assert bound.call_kwargs() == {"post_id": POST, "approver": "ann", "content_hash": "h"}


@pytest.mark.parametrize(("name", "args", "kwargs", "expected"), [
    ("approval.approve", [5], {}, ["post_id: expected text, got number", "approver is missing",
                                   "content_hash is missing"]),
    ("approval.approve", [POST, "ann", "h", "extra"], {}, [
        "approval.approve takes at most 3 positional arguments (post_id, approver, content_hash), got 4"]),
    ("approval.approve", [POST, "ann", "h"], {"post_id": POST}, ["post_id is given twice (by position and by name)"]),
    ("approval.reject", [POST, "a\x00b", "r"], {}, [
        "approver: has U+0000 (NUL) at character 2: not allowed in socialcal input"]),
    ("publishing.update_message", [POST, "\ud800"], {}, [
        "message: has U+D800 (a lone surrogate: invalid Unicode) at character 1: not allowed in socialcal input"]),
    ("publishing.reschedule_post", [POST, "2030-01-01T10:00"], {}, [
        "scheduled_at: needs a UTC offset (e.g. 2026-12-01T10:00:00+01:00)"]),
    ("analysis.build_report_input", [POST, "2030-01-05", "2030-01-01"], {}, ["period_end is before period_start"]),
    ("analysis.build_all_reports", ["year"], {}, ["period: expected 'week' or 'month'"]),
    ("calendar.plan_month", [POST, "2030-13"], {}, ["month: expected a month as YYYY-MM"]),
    ("insights.pull_all", [], {"index": True, "start": -1}, ["index: expected a number, got boolean",
                                                              "start: must be greater than or equal to 0"]),
    ("publishing.dispatch_due", [1], {}, ["publishing.dispatch_due takes no arguments, got 1"]),
    ("publishing.publish_post", "abc", {}, ["arguments must be a list, got text"]),
    ("publishing.publish_post", [POST], [1], ["keyword arguments must be an object, got list"]),
])
def test_bad_arguments_are_plain_reasons_naming_the_field(name, args, kwargs, expected):
    with pytest.raises(BadMessage) as refused:
        bind(name, args, kwargs)
    assert str(refused.value).split("; ") == expected


@given(name=st.sampled_from(sorted(TASK_ARGUMENTS)), args=st.one_of(st.lists(st.one_of(uuid_like(), any_value()),
                                                                             max_size=4), any_value()),
       kwargs=st.one_of(st.dictionaries(st.sampled_from(["post_id", "tenant_id", "integration_id", "approver",
                                                         "message", "period", "index", "x"]), any_value(),
                                        max_size=3), any_value()))
def test_any_arguments_bind_or_give_short_plain_reasons(name, args, kwargs):
    try:
        bind(name, args, kwargs)
    except BadMessage as refused:
        text = str(refused)
        assert text and len(text) < 1500
        for raw in ("Input should", "pydantic", "errors.pydantic.dev", "Traceback", "input_value"):
            assert raw not in text, text
        text.encode("utf-8")  # storable and printable: no lone surrogate reaches the reason


def test_valid_kwargs_pass_the_exported_files_too():
    registry_docs = schema_documents()
    examples = {
        "approval.approve": {"post_id": POST, "approver": "ann", "content_hash": "abc"},
        "publishing.reschedule_post": {"post_id": POST, "scheduled_at": "2030-01-01T10:00:00+01:00"},
        "insights.pull_all": {},
        "posts.intake": {"payload": {"tenant_id": POST, "message": "hi", "scheduled_at": "2030-01-01T10:00:00Z"}},
    }
    from referencing import Registry, Resource

    registry = Registry().with_resources(
        (doc["$id"], Resource.from_contents(doc)) for doc in registry_docs.values())
    for name, kwargs in examples.items():
        bind(name, [], kwargs)
        jsonschema.Draft202012Validator(registry_docs[f"tasks/{name}.json"], registry=registry).validate(kwargs)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(registry_docs["tasks/approval.approve.json"]).validate({"post_id": POST})
