"""The operator's controls: `tenant add|update|show|pause|resume` and `facebook disconnect`, each with
`--json`, and a one-line error naming the field for every bad value."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from models import Integration, Tenant
from models.db import transaction
from tests.support.factories import connect
from worker.cli import cli


def run(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def refused(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code != 0, result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    return lines[0]


@pytest.fixture
def tenant_id(db) -> str:
    return json.loads(run("tenant", "add", "--name", "Acme", "--timezone", "Europe/Berlin", "--weekdays", "mon,thu",
                          "--times", "09:00,17:30", "--posts-per-week", "3", "--theme", "tips, tricks",
                          "--theme", "news", "--json"))["id"]


def test_add_with_a_cadence_and_show_it_with_its_pages(tenant_id):
    a = connect(tenant_id, "pa", "EAAtokenvalue00000000000000000000a", "North")
    connect(tenant_id, "pb", "EAAtokenvalue00000000000000000000b", "South")
    shown = json.loads(run("tenant", "show", tenant_id, "--json"))
    assert shown["cadence"]["weekdays"] == [0, 3] and shown["cadence"]["times"] == ["09:00", "17:30"]
    assert shown["cadence"]["themes"] == ["tips, tricks", "news"] and shown["cadence"]["posts_per_week"] == 3
    assert [(p["page_name"], p["status"]) for p in shown["pages"]] == [("North", "active"), ("South", "active")]
    assert shown["pages"][0]["integration_id"] == a and shown["pages"][0]["cadence"] == shown["cadence"]
    text = run("tenant", "show", tenant_id)
    assert "Mon,Thu at 09:00,17:30; at most 3/week" in text and "North" in text and "South" in text
    assert "EAAtoken" not in text + json.dumps(shown)


def test_update_settings_cadence_and_one_pages_override(tenant_id):
    a = connect(tenant_id, "pa", "EAAtokenvalue00000000000000000000a", "North")
    b = connect(tenant_id, "pb", "EAAtokenvalue00000000000000000000b", "South")
    updated = json.loads(run("tenant", "update", tenant_id, "--name", "Acme GmbH", "--timezone", "America/New_York",
                             "--auto-publish", "--content-types", "photo,text", "--skip-dates",
                             "2026-12-24,2026-12-25", "--json"))
    assert (updated["name"], updated["timezone"], updated["auto_publish"]) == ("Acme GmbH", "America/New_York", True)
    assert updated["cadence"]["content_types"] == ["photo", "text"]
    assert updated["cadence"]["weekdays"] == [0, 3]  # untouched fields stay
    assert updated["cadence"]["skip_dates"] == ["2026-12-24", "2026-12-25"]

    page = json.loads(run("tenant", "update", tenant_id, "--page", b, "--times", "best", "--fallback-times", "12:00",
                          "--weekdays", "sat", "--json"))
    south = [p for p in page["pages"] if p["integration_id"] == b][0]
    north = [p for p in page["pages"] if p["integration_id"] == a][0]
    assert south["cadence_override"] == {"times": "best", "fallback_times": ["12:00"], "weekdays": [5]}
    assert south["cadence"]["times"] == "best" and south["cadence"]["content_types"] == ["photo", "text"]
    assert north["cadence"]["times"] == ["09:00", "17:30"] and north["cadence_override"] is None

    cleared = json.loads(run("tenant", "update", tenant_id, "--page", b, "--clear-override", "--json"))
    assert [p["cadence_override"] for p in cleared["pages"]] == [None, None]
    off = json.loads(run("tenant", "update", tenant_id, "--no-auto-publish", "--json"))
    assert off["auto_publish"] is False


@pytest.mark.parametrize(("args", "expected"), [
    (["--weekdays", "0,9"], "Error: cadence.weekdays: 9 is not a weekday"),
    (["--weekdays", "someday"], "Error: cadence.weekdays: 'someday' is not a weekday"),
    (["--weekdays", ""], "Error: cadence.weekdays: the list is empty"),
    (["--times", "25:00"], "Error: cadence.times: '25:00' is not a time of day"),
    (["--posts-per-week", "-2"], "Error: cadence.posts_per_week: -2 is not a whole number"),
    (["--posts-per-week", "lots"], "Error: cadence.posts_per_week: 'lots' is not a whole number"),
    (["--content-types", "story"], "Error: cadence.content_types: 'story' is not one of"),
    (["--skip-dates", "24.12.2026"], "Error: cadence.skip_dates: '24.12.2026' is not a date"),
    (["--timezone", "Mars/Base"], "Error: timezone: unknown time zone 'Mars/Base'"),
    (["--name", "  "], "Error: name: the tenant name is empty"),
    (["--cadence", '{"themes": "tips"}'], "Error: cadence.themes: expected a list, got str"),
    (["--cadence", '{"weekdays": [1], "cadence": 1}'], "Error: cadence.cadence: unknown cadence field"),
    (["--cadence", "{oops"], "Error: cadence: --cadence is not JSON"),
    ([], "Error: nothing to change"),
    (["--clear-override"], "Error: --clear-override needs --page"),
])
def test_every_bad_value_is_one_line_naming_the_field_and_changes_nothing(tenant_id, args, expected):
    with transaction() as s:
        before = (s.get(Tenant, tenant_id).name, s.get(Tenant, tenant_id).timezone, dict(s.get(Tenant, tenant_id).cadence))
    line = refused("tenant", "update", tenant_id, *args)
    assert line.startswith(expected), line
    with transaction() as s:
        t = s.get(Tenant, tenant_id)
        assert (t.name, t.timezone, dict(t.cadence)) == before


def test_bad_values_on_add_and_on_a_page_are_refused_the_same_way(tenant_id):
    assert refused("tenant", "add", "--name", "X", "--times", "10:00,7pm").startswith(
        "Error: cadence.times: '7pm' is not a time of day")
    assert refused("tenant", "add", "--name", "X", "--timezone", "Nowhere").startswith("Error: timezone: unknown")
    assert refused("tenant", "update", tenant_id, "--page", "nope", "--times", "10:00").startswith(
        "Error: page: nope is not a Facebook Page connected to tenant")
    b = connect(tenant_id, "pb", "EAAtokenvalue00000000000000000000b")
    assert refused("tenant", "update", tenant_id, "--page", b, "--posts-per-week", "0").startswith(
        "Error: cadence.posts_per_week: 0 is not a whole number")
    assert refused("tenant", "update", tenant_id, "--page", b, "--name", "Y").startswith(
        "Error: --page takes cadence options only")
    with transaction() as s:
        assert s.get(Integration, b).cadence_override is None
        assert s.query(Tenant).count() == 1
    assert refused("tenant", "show", "00000000-0000-0000-0000-000000000000").startswith("Error: no tenant")


def test_pause_and_resume_with_json(tenant_id):
    paused = json.loads(run("tenant", "pause", tenant_id, "--json"))
    assert paused["status"] == "paused" and paused["approved_waiting"] == 0
    assert json.loads(run("tenant", "show", tenant_id, "--json"))["status"] == "paused"
    assert "paused" in refused("plan", "--tenant", tenant_id, "--month", "2030-01")
    resumed = json.loads(run("tenant", "resume", tenant_id, "--json"))
    assert (resumed["status"], resumed["was"], resumed["released"]) == ("active", "paused", 0)
    assert "active" in run("tenant", "resume", tenant_id)


def test_facebook_disconnect_with_json_and_a_plain_error_for_an_unknown_page(tenant_id):
    a = connect(tenant_id, "pa", "EAAtokenvalue00000000000000000000a", "North")
    result = json.loads(run("facebook", "disconnect", a, "--json"))
    assert (result["status"], result["was"], result["page_name"]) == ("disabled", "active", "North")
    assert result["approved_waiting"] == 0 and result["scheduled_on_facebook"] == 0
    shown = json.loads(run("tenant", "show", tenant_id, "--json"))["pages"][0]
    assert shown["status"] == "disabled" and "facebook connect" in shown["status_reason"]
    assert refused("facebook", "disconnect", "nope").startswith("Error: no Facebook Page integration nope")
