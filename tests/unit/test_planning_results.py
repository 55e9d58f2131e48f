"""Planning's answers in full: what a re-plan returns, the notes a calendar keeps, a lost race for a
Page's month, beat's monthly fan-out (which tenants, which month), skip dates, and the result as the
CLI prints it. Written against the mutants a mutation run of tasks/domain/planning.py left alive
(bench/mutation.py)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from models import Integration, SocialCalendar, Tenant
from models.db import transaction
from tasks.domain import planning
from tasks.domain.planning import PagePlan, PlanningError, PlanResult, next_month, plan_month, plan_next_month, slot_times
from tests.support.factories import connect, make_tenant
from worker.core.queues import TaskName

NOW = datetime(2029, 12, 20, 12, tzinfo=timezone.utc)
WEEKLY = {"weekdays": [0, 3], "times": ["10:00", "08:00"], "posts_per_week": 2}


@pytest.fixture
def sent(monkeypatch):
    captured: list[dict] = []
    monkeypatch.setattr("tasks.domain.planning.send_to_agent", lambda session, queue, payload: captured.append(payload))
    return captured


def test_a_replan_answers_with_the_first_plan_page_by_page(db, sent):
    tenant_id = make_tenant(cadence=WEEKLY, timezone="Europe/Berlin")
    integration_id = connect(tenant_id, "p1", "EAAtokenvalue000000000000000000001", "Bakery")
    with transaction() as s:
        first = plan_month(s, tenant_id, "2030-01", now=NOW).pages[0]
    with transaction() as s:
        again = plan_month(s, tenant_id, "2030-01", now=NOW).pages[0]
    assert again == PagePlan(integration_id, "p1", "Bakery", first.calendar_id, False, first.slot_ids, first.notes)
    assert first.created is True and first.page_name == "Bakery" and first.page_id == "p1"
    notes = first.notes
    assert (notes["timezone"], notes["planned_at"], notes["override"]) == ("Europe/Berlin", NOW.isoformat(), [])
    assert notes["times"] == {"mode": "fixed", "source": "configured", "chosen": ["Mon 08:00", "Mon 10:00",
                                                                               "Thu 08:00", "Thu 10:00"],
                              "reason": "the cadence's configured times"}


def test_a_page_whose_month_another_planner_just_created_answers_with_the_winner(db, sent, monkeypatch):
    """Two plans of one month race: the unique (Page, month) row decides, and the loser returns the
    winner's calendar instead of creating a second one (or failing)."""
    tenant_id = make_tenant(cadence=WEEKLY)
    integration_id = connect(tenant_id, "p1", "EAAtokenvalue000000000000000000001", "Bakery")
    other_id = connect(tenant_id, "p2", "EAAtokenvalue000000000000000000002", "Other")
    winner: dict[str, str] = {}
    choose = planning._choose_cells

    def race(session, item, zone, now):
        if item.integration.id == integration_id:  # the winner commits its calendar first
            calendar = SocialCalendar(tenant_id=tenant_id, integration_id=integration_id, month="2030-01",
                                      planning_notes={"by": "the other planner"})
            session.add(calendar)
            session.flush()
            winner["id"] = calendar.id
        choose(session, item, zone, now)

    monkeypatch.setattr(planning, "_choose_cells", race)
    # Calendars a loose lookup of the winner would find first: another tenant's for the month, and this
    # Page's for another month.
    stranger = make_tenant("Stranger")
    with transaction() as s:
        s.add(SocialCalendar(tenant_id=stranger, integration_id=None, month="2030-01", planning_notes={}))
        s.add(SocialCalendar(tenant_id=tenant_id, integration_id=integration_id, month="2029-12", planning_notes={}))
    with transaction() as s:
        result = plan_month(s, tenant_id, "2030-01", now=NOW)
    lost, planned = result.pages
    assert lost == PagePlan(integration_id, "p1", "Bakery", winner["id"], False, [], {"by": "the other planner"})
    assert planned.integration_id == other_id and planned.created and planned.slot_ids
    with transaction() as s:
        assert s.query(SocialCalendar).filter_by(integration_id=integration_id, month="2030-01").count() == 1


def test_skip_dates_are_left_out_of_the_month(db, sent):
    cadence = {"weekdays": list(range(7)), "times": ["10:00"], "posts_per_week": 7,
               "skip_dates": ["2030-01-15", "2030-01-16"]}
    days = [t.day for t in slot_times(cadence, "UTC", 2030, 1, NOW)]
    assert days == [d for d in range(1, 32) if d not in (15, 16)]
    tenant_id = make_tenant(cadence=cadence)
    connect(tenant_id, "p1", "EAAtokenvalue000000000000000000001")
    with transaction() as s:
        assert len(plan_month(s, tenant_id, "2030-01", now=NOW).slot_ids) == 29


def test_best_times_cannot_be_planned_without_the_page():
    with pytest.raises(PlanningError) as refused:
        slot_times({"times": "best"}, "UTC", 2030, 1, NOW)
    assert str(refused.value) == 'cadence.times: "best" needs the Page\'s metrics; plan the month with plan_month'


@pytest.mark.parametrize(("now", "month"), [
    (datetime(2030, 1, 31, tzinfo=timezone.utc), "2030-02"),
    (datetime(2030, 2, 1, tzinfo=timezone.utc), "2030-03"),
    (datetime(2030, 12, 15, 23, 59, tzinfo=timezone.utc), "2031-01"),
])
def test_next_month(now, month):
    assert next_month(now) == month


def test_beat_plans_next_month_for_each_active_tenant_with_an_active_facebook_page(db, monkeypatch):
    queued: list[tuple[object, tuple[object, ...]]] = []

    def enqueue(session, name, *args):
        assert session is not None and hasattr(session, "execute")
        queued.append((name, args))

    monkeypatch.setattr("tasks.domain.planning.enqueue", enqueue)
    ready = make_tenant("Ready")
    connect(ready, "p1", "EAAtokenvalue000000000000000000001")
    make_tenant("No Page")
    paused = make_tenant("Paused")
    connect(paused, "p2", "EAAtokenvalue000000000000000000002")
    reconnect = make_tenant("Needs reconnect")
    broken = connect(reconnect, "p3", "EAAtokenvalue000000000000000000003")
    other = make_tenant("Other provider")
    foreign = connect(other, "p4", "EAAtokenvalue000000000000000000004")
    with transaction() as s:
        s.get(Tenant, paused).status = "paused"
        s.get(Integration, broken).status = "needs_reconnect"
        s.get(Integration, foreign).provider = "instagram"
    with transaction() as s:
        assert plan_next_month(s, now=datetime(2030, 1, 5, tzinfo=timezone.utc)) == 1
    assert queued == [(TaskName.PLAN_MONTH, (ready, "2030-02"))]


def test_the_plan_as_the_cli_prints_it():
    page = PagePlan("i-1", "p1", "Bakery", "c-1", True, ["s1", "s2"], {"times": {"mode": "fixed"}})
    assert page.as_dict() == {"integration_id": "i-1", "page_id": "p1", "page_name": "Bakery", "calendar_id": "c-1",
                              "created": True, "slots": 2, "times": {"mode": "fixed"}}
    assert PagePlan("i-2", "p2", None, "c-2", False, [], None).as_dict()["times"] is None
    result = PlanResult("t-1", "2030-01", [page], note="n")
    assert result.as_dict() == {"tenant_id": "t-1", "month": "2030-01", "created": True, "slots": 2,
                                "pages": [page.as_dict()], "note": "n"}


# ----------------------------------------------------------------------------- second pass: plan_month in full


def test_plan_month_answers_for_the_tenant_and_month_with_every_theme_in_turn(db, sent):
    cadence = {"weekdays": list(range(7)), "times": ["10:00"], "posts_per_week": 7, "themes": ["a", "b", "c"],
               "content_types": ["text", "photo"]}
    tenant_id = make_tenant(cadence=cadence)
    connect(tenant_id, "p1", "EAAtokenvalue000000000000000000001")
    with transaction() as s:
        result = plan_month(s, tenant_id, "2030-01", now=NOW)
    assert (result.tenant_id, result.month, result.note) == (tenant_id, "2030-01", None)
    assert [(r["theme"], r["content_type"]) for r in sent[:4]] == [("a", "text"), ("b", "photo"), ("c", "text"),
                                                                   ("a", "photo")]


def test_slots_already_past_or_due_now_are_left_out_but_the_days_later_slot_is_kept():
    cadence = {"weekdays": list(range(7)), "times": ["08:00", "10:00", "12:00"], "posts_per_week": 21}
    now = datetime(2030, 1, 1, 10, tzinfo=timezone.utc)  # 08:00 is past, 10:00 is now
    times = slot_times(cadence, "UTC", 2030, 1, now)
    assert times[0] == datetime(2030, 1, 1, 12, tzinfo=timezone.utc)
    assert times[1] == datetime(2030, 1, 2, 8, tzinfo=timezone.utc)
    assert all(t.tzinfo is timezone.utc for t in times)


def test_the_writer_request_names_the_local_time_and_the_platform(db, sent):
    tenant_id = make_tenant(cadence=WEEKLY, timezone="Europe/Berlin")
    connect(tenant_id, "p1", "EAAtokenvalue000000000000000000001")
    with transaction() as s:
        plan_month(s, tenant_id, "2030-01", now=NOW)
    first = sent[0]
    assert (first["scheduled_at"], first["local_time"], first["timezone"], first["platform"]) == (
        "2030-01-03T07:00:00+00:00", "2030-01-03T08:00:00+01:00", "Europe/Berlin", "facebook")


def test_pages_are_planned_in_the_order_they_were_connected(db, sent):
    """created_at decides (here the reverse of the id order), not the row order or the random ids."""
    tenant_id = make_tenant(cadence=WEEKLY)
    low, high = sorted([connect(tenant_id, "p1", "EAAtokenvalue000000000000000000001"),
                        connect(tenant_id, "p2", "EAAtokenvalue000000000000000000002")])
    with transaction() as s:
        s.get(Integration, low).created_at = datetime(2029, 1, 2, tzinfo=timezone.utc)
        s.get(Integration, high).created_at = datetime(2029, 1, 1, tzinfo=timezone.utc)
    with transaction() as s:
        assert [p.integration_id for p in plan_month(s, tenant_id, "2030-01", now=NOW).pages] == [high, low]


def test_another_tenants_tenant_wide_calendar_does_not_stop_this_one(db, sent):
    other = make_tenant("Other", cadence=WEEKLY)
    with transaction() as s:
        s.add(SocialCalendar(tenant_id=other, integration_id=None, month="2030-01", planning_notes={}))
    tenant_id = make_tenant(cadence=WEEKLY)
    connect(tenant_id, "p1", "EAAtokenvalue000000000000000000001")
    with transaction() as s:
        assert plan_month(s, tenant_id, "2030-01", now=NOW).created
    with transaction() as s:  # this tenant's own tenant-wide calendar of another month stops nothing either
        s.add(SocialCalendar(tenant_id=tenant_id, integration_id=None, month="2029-12", planning_notes={}))
    with transaction() as s:
        assert plan_month(s, tenant_id, "2030-02", now=NOW).created
    with transaction() as s:
        legacy = plan_month(s, other, "2030-01", now=NOW)
    assert (legacy.tenant_id, legacy.month, legacy.pages) == (other, "2030-01", [])
    assert legacy.note.startswith("2030-01 was planned for the whole tenant before calendars were per Page")


def test_only_facebook_pages_are_planned(db, sent):
    tenant_id = make_tenant(cadence=WEEKLY)
    keep = connect(tenant_id, "p1", "EAAtokenvalue000000000000000000001")
    other = connect(tenant_id, "p2", "EAAtokenvalue000000000000000000002")
    with transaction() as s:
        s.get(Integration, other).provider = "instagram"
    with transaction() as s:
        assert [p.integration_id for p in plan_month(s, tenant_id, "2030-01", now=NOW).pages] == [keep]


def test_planning_refusals_word_for_word(db, sent):
    with transaction() as s, pytest.raises(PlanningError) as missing:
        plan_month(s, "00000000-0000-0000-0000-000000000000", "2030-01")
    assert str(missing.value) == "no tenant 00000000-0000-0000-0000-000000000000"
    tenant_id = make_tenant("Acme", cadence=WEEKLY)
    with transaction() as s, pytest.raises(PlanningError) as lonely:
        plan_month(s, tenant_id, "2030-01")
    assert str(lonely.value) == ("tenant 'Acme' has no active Facebook Page to plan for: connect one with "
                                 "`socialcal facebook connect`")
    page = connect(tenant_id, "p1", "EAAtokenvalue000000000000000000001", name="")
    with transaction() as s:
        s.get(Integration, page).cadence_override = {"posts_per_week": 0}
    with transaction() as s, pytest.raises(PlanningError) as bad:
        plan_month(s, tenant_id, "2030-01")
    assert str(bad.value).startswith(f"Page p1 ({page}): cadence.posts_per_week: 0 is not a whole number")
    with transaction() as s:
        s.get(Integration, page).meta = {**s.get(Integration, page).meta, "pageName": "Bakery"}
    with transaction() as s, pytest.raises(PlanningError) as named:
        plan_month(s, tenant_id, "2030-01")
    assert str(named.value).startswith(f"Page Bakery ({page}): cadence.posts_per_week")
    with transaction() as s:
        s.get(Tenant, tenant_id).status = "paused"
    with transaction() as s, pytest.raises(PlanningError) as paused:
        plan_month(s, tenant_id, "2030-01")
    assert str(paused.value) == "tenant 'Acme' is paused: it plans nothing until `socialcal tenant resume`"


def test_pages_connected_at_the_same_instant_are_planned_in_id_order(db, sent):
    """The tie-break: ids, not the order the rows happen to be stored in (the older row here has the larger id)."""
    tenant_id = make_tenant(cadence=WEEKLY)
    older = connect(tenant_id, "p0", "EAAtokenvalue000000000000000000000")
    n = 1
    while True:  # a newer Page whose random id sorts before the older one's
        newer = connect(tenant_id, f"p{n}", f"EAAtokenvalue{n:021d}")
        if newer < older:
            break
        with transaction() as s:
            s.get(Integration, newer).status = "disabled"
        n += 1
    same = datetime(2029, 1, 1, tzinfo=timezone.utc)
    with transaction() as s:
        s.get(Integration, older).created_at = same
        s.get(Integration, newer).created_at = same
    with transaction() as s:
        assert [p.integration_id for p in plan_month(s, tenant_id, "2030-01", now=NOW).pages] == [newer, older]
