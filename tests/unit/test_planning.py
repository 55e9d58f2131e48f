"""Calendar planning: cadence to UTC slots, DST-correct, none in the past, idempotent per month."""

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from models import CalendarSlot, SocialCalendar
from models.db import transaction
from tasks.domain.planning import PlanningError, plan_month, slot_times
from tests.support.factories import make_tenant

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


def test_plan_twice_changes_nothing_and_requests_the_writer_after_commit(db, monkeypatch):
    sent = []
    monkeypatch.setattr("tasks.domain.planning.send_to_agent", lambda session, queue, payload: sent.append((queue, payload)))
    tenant_id = make_tenant(cadence={"weekdays": [0, 3], "times": ["10:00"], "posts_per_week": 2})
    with transaction() as s:
        first = plan_month(s, tenant_id, "2030-01")
    with transaction() as s:
        second = plan_month(s, tenant_id, "2030-01")
    assert first.created and not second.created
    assert first.slot_ids == second.slot_ids and len(first.slot_ids) == 9
    with transaction() as s:
        assert s.query(SocialCalendar).count() == 1
        assert s.query(CalendarSlot).count() == 9
    assert len(sent) == 9
    assert sent[0][0].value == "agents.post_writer"
    assert {"tenant_id", "slot_id", "scheduled_at", "content_type", "theme"} <= set(sent[0][1])
