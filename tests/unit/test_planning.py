"""Calendar planning: cadence to UTC slots, DST-correct, none in the past, one calendar per Page and
month (idempotent), per-Page overrides, best times from the Page's metrics, bad cadences refused."""

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text

from models import CalendarSlot, Integration, PostMetric, SocialCalendar, SocialPost, Tenant
from models.db import transaction
from tasks.domain.planning import PlanningError, plan_month, plan_next_month, slot_times
from tests.support.factories import connect, make_tenant

BERLIN = "Europe/Berlin"
EARLY = datetime(2020, 1, 1, tzinfo=timezone.utc)


def test_local_time_is_kept_across_the_dst_change():
    cadence = {"weekdays": list(range(7)), "times": ["10:00"], "posts_per_week": 7}
    times = slot_times(cadence, BERLIN, 2026, 3, EARLY)  # DST starts 2026-03-29 in Berlin
    assert len(times) == 31
    local = [t.astimezone(ZoneInfo(BERLIN)) for t in times]
    assert all(t.hour == 10 and t.minute == 0 for t in local)
    assert times[27].hour == 9 and times[28].hour == 8  # UTC offset moves from +1 to +2


def test_time_inside_the_spring_forward_gap_moves_forward_and_autumn_repeat_takes_first():
    cadence = {"weekdays": list(range(7)), "times": ["02:30"], "posts_per_week": 7}
    march = {t.date().day: t for t in slot_times(cadence, BERLIN, 2026, 3, EARLY)}
    assert march[29].astimezone(ZoneInfo(BERLIN)).hour == 3  # 02:30 does not exist that night
    october = slot_times(cadence, BERLIN, 2026, 10, EARLY)
    repeat = [t for t in october if t.astimezone(ZoneInfo(BERLIN)).day == 25][0]
    assert repeat == datetime(2026, 10, 25, 0, 30, tzinfo=timezone.utc)  # first 02:30 (CEST)


def test_weekdays_per_week_cap_skip_dates_and_no_past_slots():
    cadence = {"weekdays": [0, 1, 2, 3, 4], "times": ["09:00", "17:00"], "posts_per_week": 3,
               "skip_dates": ["2026-12-24"]}
    now = datetime(2026, 12, 10, 12, tzinfo=timezone.utc)
    times = slot_times(cadence, "UTC", 2026, 12, now)
    assert all(t > now for t in times)
    assert all(t.weekday() < 5 for t in times)
    assert not any(t.date().isoformat() == "2026-12-24" for t in times)
    weeks: dict = {}
    for t in times:
        weeks[t.isocalendar()[:2]] = weeks.get(t.isocalendar()[:2], 0) + 1
    assert max(weeks.values()) <= 3


def test_bad_month_and_bad_cadence_are_clear():
    with pytest.raises(PlanningError, match="YYYY-MM"):
        plan_month(None, "x", "2026-13")  # type: ignore[arg-type] - the month is checked first
    with pytest.raises(PlanningError, match="HH:MM"):
        slot_times({"times": ["ten"]}, "UTC", 2026, 12, EARLY)


@pytest.fixture
def sent(monkeypatch):
    """Writer requests handed to the agent queue (after commit), captured instead of sent."""
    captured: list[dict] = []
    monkeypatch.setattr("tasks.domain.planning.send_to_agent",
                        lambda session, queue, payload: captured.append({"queue": queue.value, **payload}))
    return captured


WEEKLY = {"weekdays": [0, 3], "times": ["10:00"], "posts_per_week": 2}


def test_plan_twice_changes_nothing_and_each_writer_request_names_the_page(db, sent):
    tenant_id = make_tenant(cadence=WEEKLY)
    integration_id = connect(tenant_id, "p1", "EAAtokenvalue000000000000000000001", "Bakery")
    with transaction() as s:
        first = plan_month(s, tenant_id, "2030-01")
    with transaction() as s:
        second = plan_month(s, tenant_id, "2030-01")
    assert first.created and not second.created
    assert first.slot_ids == second.slot_ids and len(first.slot_ids) == 9
    with transaction() as s:
        assert s.query(SocialCalendar).count() == 1
        assert {slot.integration_id for slot in s.query(CalendarSlot)} == {integration_id}
    assert len(sent) == 9
    assert sent[0]["queue"] == "agents.post_writer"
    assert {(r["integration_id"], r["page_id"], r["page_name"]) for r in sent} == {(integration_id, "p1", "Bakery")}
    assert {"tenant_id", "slot_id", "scheduled_at", "local_time", "timezone", "content_type", "theme",
            "platform"} <= set(sent[0])


def test_every_active_page_gets_its_calendar_and_a_page_connected_later_is_planned_alone(db, sent):
    tenant_id = make_tenant(cadence=WEEKLY)
    a = connect(tenant_id, "pa", "EAAtokenvalue00000000000000000000a", "A")
    b = connect(tenant_id, "pb", "EAAtokenvalue00000000000000000000b", "B")
    with transaction() as s:
        first = plan_month(s, tenant_id, "2030-01")
    assert [p.integration_id for p in first.pages] == [a, b] and all(p.created for p in first.pages)
    assert len(first.slot_ids) == 18
    by_page = {p.integration_id: p for p in first.pages}
    # Cross-posting: the same idea on both Pages is two slots, one per Page, at the same time and theme.
    with transaction() as s:
        slots = {sid: (s.get(CalendarSlot, sid).scheduled_at, s.get(CalendarSlot, sid).theme) for sid in first.slot_ids}
    assert [slots[i] for i in by_page[a].slot_ids] == [slots[i] for i in by_page[b].slot_ids]
    requests_before = len(sent)

    c = connect(tenant_id, "pc", "EAAtokenvalue00000000000000000000c", "C")
    with transaction() as s:
        second = plan_month(s, tenant_id, "2030-01")
    again = {p.integration_id: p for p in second.pages}
    assert not again[a].created and not again[b].created and again[c].created
    assert again[a].calendar_id == by_page[a].calendar_id and again[a].slot_ids == by_page[a].slot_ids
    assert again[b].slot_ids == by_page[b].slot_ids
    assert len(sent) == requests_before + len(again[c].slot_ids)
    assert {r["integration_id"] for r in sent[requests_before:]} == {c}


def test_disabled_pages_and_paused_tenants_are_not_planned(db, sent):
    tenant_id = make_tenant(cadence=WEEKLY)
    live = connect(tenant_id, "p1", "EAAtokenvalue000000000000000000001")
    gone = connect(tenant_id, "p2", "EAAtokenvalue000000000000000000002")
    with transaction() as s:
        s.get(Integration, gone).status = "disabled"
    with transaction() as s:
        assert [p.integration_id for p in plan_month(s, tenant_id, "2030-01").pages] == [live]
    with transaction() as s:
        s.get(Tenant, tenant_id).status = "paused"
    with transaction() as s:
        with pytest.raises(PlanningError, match="paused.*tenant resume"):
            plan_month(s, tenant_id, "2030-02")
        assert plan_next_month(s, now=datetime(2030, 1, 5, tzinfo=timezone.utc)) == 0
    lonely = make_tenant("No Pages")
    with transaction() as s:
        with pytest.raises(PlanningError, match="no active Facebook Page"):
            plan_month(s, lonely, "2030-02")


def test_a_page_override_changes_only_that_page(db, sent):
    tenant_id = make_tenant(cadence=WEEKLY)
    a = connect(tenant_id, "pa", "EAAtokenvalue00000000000000000000a")
    b = connect(tenant_id, "pb", "EAAtokenvalue00000000000000000000b")
    with transaction() as s:
        s.get(Integration, b).cadence_override = {"weekdays": [5], "times": ["18:30"], "posts_per_week": 1,
                                                  "content_types": ["photo"]}
    with transaction() as s:
        plans = {p.integration_id: p for p in plan_month(s, tenant_id, "2030-01").pages}
    with transaction() as s:
        slots_b = [s.get(CalendarSlot, i) for i in plans[b].slot_ids]
        assert len(plans[a].slot_ids) == 9 and len(slots_b) == 4  # the Saturdays of January 2030
        assert all(sl.scheduled_at.weekday() == 5 and sl.scheduled_at.strftime("%H:%M") == "18:30" for sl in slots_b)
        assert {sl.content_type for sl in slots_b} == {"photo"}
        notes = s.get(SocialCalendar, plans[b].calendar_id).planning_notes
    assert notes["override"] == ["content_types", "posts_per_week", "times", "weekdays"]
    assert notes["times"]["chosen"] == ["Sat 18:30"] and notes["cadence"]["weekdays"] == [5]


@pytest.mark.parametrize(("column", "value", "fragment"), [
    ("cadence", {"weekdays": [9]}, "cadence.weekdays: 9 is not a weekday"),
    ("cadence", {"times": "10:00"}, "cadence.times: expected a list"),
    ("cadence", {"posts_per_week": "three"}, "cadence.posts_per_week"),
    ("cadence", {"themes": []}, "cadence.themes: the list is empty"),
    ("cadence", ["not", "an", "object"], "expected an object"),
    ("cadence_override", {"times": ["25:00"]}, "cadence.times: '25:00'"),
    ("timezone", "Mars/Base", "timezone: unknown time zone"),
])
def test_a_bad_cadence_already_stored_fails_planning_with_its_reason_and_creates_nothing(db, sent, column, value,
                                                                                           fragment):
    tenant_id = make_tenant(cadence=WEEKLY)
    integration_id = connect(tenant_id, "p1", "EAAtokenvalue000000000000000000001")
    with transaction() as s:  # written behind the validation's back, as SQL or an old version would
        if column == "cadence_override":
            s.get(Integration, integration_id).cadence_override = value
        elif column == "cadence":
            s.get(Tenant, tenant_id).cadence = value
        else:
            s.execute(text("UPDATE tenants SET timezone = :v WHERE id = :id"), {"v": value, "id": tenant_id})
    with transaction() as s:
        with pytest.raises(PlanningError) as refused:
            plan_month(s, tenant_id, "2030-01")
    assert fragment in str(refused.value) and "\n" not in str(refused.value)
    with transaction() as s:
        assert s.query(SocialCalendar).count() == 0 and s.query(CalendarSlot).count() == 0
    assert sent == []


def test_a_month_planned_tenant_wide_before_the_migration_is_left_alone(db, sent):
    tenant_id = make_tenant(cadence=WEEKLY)
    connect(tenant_id, "p1", "EAAtokenvalue000000000000000000001")
    connect(tenant_id, "p2", "EAAtokenvalue000000000000000000002")
    with transaction() as s:
        s.add(SocialCalendar(tenant_id=tenant_id, integration_id=None, month="2030-01"))
    with transaction() as s:
        result = plan_month(s, tenant_id, "2030-01")
    assert result.pages == [] and "planned for the whole tenant" in result.note
    assert sent == []


# ------------------------------------------------------------------------------ best times

def _measured(tenant_id: str, integration_id: str, when_local: list[datetime], engagement: int) -> None:
    """Published posts with metrics, the way sync_post_metrics stores them (two readings: latest wins)."""
    with transaction() as s:
        for when in when_local:
            post = SocialPost(tenant_id=tenant_id, integration_id=integration_id, status="published",
                              message="m", published_at=when.astimezone(timezone.utc),
                              scheduled_at=when.astimezone(timezone.utc), external_id=f"x_{when.timestamp()}")
            s.add(post)
            s.flush()
            s.add(PostMetric(post_id=post.id, integration_id=integration_id, external_id=post.external_id,
                             reactions=0, comments=0, shares=0, read_at=datetime(2029, 12, 1, tzinfo=timezone.utc)))
            s.add(PostMetric(post_id=post.id, integration_id=integration_id, external_id=post.external_id,
                             reactions=engagement, comments=1, shares=None,
                             read_at=datetime(2029, 12, 20, tzinfo=timezone.utc)))


def test_best_times_come_from_the_pages_own_metrics_in_the_tenants_time_zone(db, sent):
    berlin = ZoneInfo("Europe/Berlin")
    tenant_id = make_tenant(timezone="Europe/Berlin", cadence={"weekdays": [1, 3], "times": "best",
                                                               "posts_per_week": 1})
    page = connect(tenant_id, "p1", "EAAtokenvalue000000000000000000001")
    other = connect(tenant_id, "p2", "EAAtokenvalue000000000000000000002")
    # Thursdays 19:00 Berlin time (18:00 UTC in December) do best; Tuesdays 08:00 are weak.
    thursdays = [datetime(2029, 11, 1, 19, tzinfo=berlin) + timedelta(weeks=w) for w in range(6)]
    tuesdays = [datetime(2029, 10, 30, 8, tzinfo=berlin) + timedelta(weeks=w) for w in range(6)]
    _measured(tenant_id, page, thursdays, 80)
    _measured(tenant_id, page, tuesdays, 4)
    with transaction() as s:
        plans = {p.integration_id: p for p in plan_month(s, tenant_id, "2030-01",
                                                         now=datetime(2029, 12, 21, tzinfo=timezone.utc)).pages}
    with transaction() as s:
        slots = [s.get(CalendarSlot, i).scheduled_at.astimezone(berlin) for i in plans[page].slot_ids]
        best = s.get(SocialCalendar, plans[page].calendar_id).planning_notes["times"]
        fallback = s.get(SocialCalendar, plans[other].calendar_id).planning_notes["times"]
        other_slots = [s.get(CalendarSlot, i).scheduled_at.astimezone(berlin) for i in plans[other].slot_ids]
    assert slots and all((t.weekday(), t.hour) == (3, 19) for t in slots)
    assert best["source"] == "best" and best["chosen"] == ["Thu 19:00"] and best["posts_with_metrics"] == 12
    assert best["ranking"][0]["engagement_per_post"] == 81  # latest reading: 80 reactions + 1 comment
    # The second Page has no metrics of its own: its fallback times, and the reason, are on its calendar.
    assert fallback["source"] == "fallback" and "0 published post(s) with metrics" in fallback["reason"]
    assert all((t.weekday(), t.hour) == (1, 10) for t in other_slots)
