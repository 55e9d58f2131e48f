"""Hostile input at the CLI: ``socialcal intake FILE|-`` and every option that takes text or an id.

Whatever the file or the option holds, the operator sees a one-line error or a per-item result,
never a traceback; every intake item is a stored post or a ``failed_jobs`` row, and one bad item
never loses the others (both databases).
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from models import FailedJob, SocialPost
from models.db import transaction
from tests.support.factories import connect, make_tenant
from tests.support.hostile import any_value, hostile_text, writer_payloads
from worker.cli import cli

FUTURE = "2030-01-02T10:00:00+00:00"


def _invoke(args: list[str], input: bytes | str | None = None):
    result = CliRunner().invoke(cli, args, input=input)
    # No exception escapes a command: it ends normally or with an exit code (SystemExit).
    assert result.exception is None or isinstance(result.exception, SystemExit), (args, repr(result.exception))
    assert "Traceback" not in result.output, result.output
    return result


def _world() -> tuple[str, str]:
    tenant_id = make_tenant("Cli hostile")
    return tenant_id, connect(tenant_id, "p-cli", "EAAclihostiletoken000000000000000001")


@pytest.fixture
def world(db):
    """Built once per test and database; hypothesis runs every example of the test against it."""
    return _world()


@given(data=st.data())
def test_intake_file_accounts_for_every_item(world, tmp_path_factory, data):
    tenant_id, integration_id = world
    good = {"tenant_id": tenant_id, "integration_id": integration_id, "message": "Fresh bread", "scheduled_at": FUTURE}
    payloads = data.draw(st.lists(writer_payloads([tenant_id], [], [integration_id]), min_size=1, max_size=4))
    payloads.insert(data.draw(st.integers(0, len(payloads))), good)
    path = tmp_path_factory.mktemp("intake") / "writer.json"
    path.write_text(json.dumps(payloads))  # Python writes NaN/Infinity and escapes lone surrogates, as JSON allows
    result = _invoke(["intake", str(path), "--json"])
    assert result.exit_code in (0, 1), result.output
    outcomes = json.loads(result.stdout)
    assert len(outcomes) == len(payloads), "an item of the batch is missing from the result"
    with transaction() as session:
        for outcome in outcomes:
            assert outcome["status"] != "error", outcome
            if outcome["post_id"]:
                assert session.get(SocialPost, outcome["post_id"]) is not None, outcome
            else:
                assert outcome["status"] == "rejected" and session.get(FailedJob, outcome["failed_job_id"]), outcome
    assert any(o["status"] == "pending_approval" for o in outcomes), "the good item was lost"


@given(raw=st.one_of(st.binary(max_size=64), st.just(b"\xff\xfe\x00"), st.just(b"[" * 100_000),
                     st.just(b"1" * 5000), st.just(b'{"tenant_id": '), st.just(b'"\\ud800"'), st.just(b"NaN"),
                     st.just(b"[]"), st.just(b"{}")))
def test_intake_of_bytes_that_are_not_writer_output_is_one_line(db, raw):
    result = _invoke(["intake", "-", "--json"], input=raw)
    if result.exit_code == 0:
        assert json.loads(result.stdout) == []  # only an empty list is nothing to do
    else:
        assert result.exit_code in (1, 2)
        lines = [line for line in result.output.splitlines() if line.strip()]
        assert lines and (len(lines) == 1 and lines[0].startswith("Error:") or json.loads(result.stdout)), result.output


def _id_and_text_commands(value: str, tenant_id: str) -> list[list[str]]:
    return [
        ["posts", "show", value], ["posts", "list", "--tenant", value], ["jobs", "show", value],
        ["jobs", "requeue", value], ["jobs", "list", "--task", value], ["approve", value, "--by", "ann"],
        ["reject", value, "--by", "ann", "--reason", "off"], ["plan", "--tenant", value, "--month", "2030-01"],
        ["plan", "--tenant", tenant_id, "--month", value], ["insights", "show", "--tenant", value],
        ["insights", "show", "--tenant", tenant_id, "--metric", value], ["insights", "pull", "--tenant", value],
        ["tenant", "add", "--name", value], ["tenant", "add", "--name", "T", "--timezone", value],
        ["facebook", "connect", "--tenant", value, "--page-id", "1", "--page-token", "EAAx"],
        ["facebook", "connect", "--tenant", tenant_id, "--page-id", value, "--page-token", "EAAx"],
    ]


@given(value=st.one_of(hostile_text(), st.sampled_from(["\x00", "\ud800", "\udcff", "x" * 5000, "", " "]),
                       any_value().map(str)))
def test_every_option_takes_any_text_without_a_traceback(world, sandbox, value):
    # ``sandbox``: a connect that gets past its options talks to the loopback sandbox, never to Meta.
    tenant_id = world[0]
    for args in _id_and_text_commands(value, tenant_id):
        result = _invoke(args)
        if result.exit_code != 0:
            errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
            assert len(errors) == 1, (args, result.output)


def test_a_bad_id_or_character_is_one_line_naming_the_option(db):
    result = _invoke(["posts", "show", "nope"])
    assert result.exit_code == 1 and result.output.strip() == "Error: POST_ID must be an id (a UUID such as 2f1c…-…), got 'nope'"
    result = _invoke(["tenant", "add", "--name", "Bad\x00Name"])
    assert result.exit_code == 1
    assert result.output.strip() == "Error: --name has U+0000 (NUL) at character 4: not allowed in socialcal input"
    result = _invoke(["approve", "\udcff", "--by", "ann"])  # a command line that is not UTF-8
    assert result.exit_code == 1 and "must be an id" in result.output


def test_one_bad_item_never_loses_the_others(db, tmp_path):
    tenant_id, integration_id = _world()
    good = {"tenant_id": tenant_id, "integration_id": integration_id, "message": "Fresh bread", "scheduled_at": FUTURE}
    items = [good | {"message": "one"}, good | {"message": "nul\x00here"}, {"tenant_id": "nobody"}, 7,
             good | {"content_type": ["text"]}, good | {"message": "\ud800"}, good | {"message": "two"}]
    path = tmp_path / "batch.json"
    path.write_text(json.dumps(items))
    result = _invoke(["intake", str(path), "--json"])
    assert result.exit_code == 1
    statuses = [o["status"] for o in json.loads(result.stdout)]
    assert statuses == ["pending_approval", "invalid", "rejected", "rejected", "invalid", "invalid", "pending_approval"]
    with transaction() as session:
        assert session.query(FailedJob).filter_by(task_name="posts.intake").count() == 2
