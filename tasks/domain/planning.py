"""Calendar planning: a tenant's cadence becomes a month of post slots, each a request to the writer.

Slots are computed in the tenant's local time and stored in UTC, so a 10:00 post stays at 10:00
local across daylight-saving changes. A local time that does not exist (the spring-forward gap) moves
forward by the gap; an ambiguous one (the autumn repeat) takes its first occurrence. Planning a month
twice changes nothing: the unique (tenant, month) calendar is the lock.
"""

from __future__ import annotations

import calendar as calendar_lib
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from models import CalendarSlot, SocialCalendar, Tenant, TenantStatus, utcnow
from tasks.domain.messaging import enqueue, send_to_agent
from worker.core.logging import get_logger
from worker.core.queues import Queue, TaskName

log = get_logger(__name__)


class PlanningError(ValueError):
    """Bad month or cadence; shown to the operator as is."""


@dataclass(frozen=True)
class PlanResult:
    calendar_id: str
    created: bool
    slot_ids: list[str]


def parse_month(month: str) -> tuple[int, int]:
    try:
        parsed = datetime.strptime(month, "%Y-%m")
    except (TypeError, ValueError):
        raise PlanningError(f"month must look like YYYY-MM, got {month!r}") from None
    return parsed.year, parsed.month


def _local_to_utc(day: date, at: time, zone: ZoneInfo) -> datetime:
    # fold=0 (PEP 495): inside a spring-forward gap the pre-transition offset applies, which lands the
    # instant one gap-length later on the wall clock (02:30 becomes 03:30); in the autumn repeat it
    # picks the first occurrence.
    return datetime.combine(day, at, tzinfo=zone).astimezone(timezone.utc)


def _parse_times(values: Any) -> list[time]:
    times = []
    for value in values or []:
        try:
            times.append(time.fromisoformat(value))
        except (TypeError, ValueError):
            raise PlanningError(f"cadence time {value!r} is not HH:MM") from None
    if not times:
        raise PlanningError("cadence has no times of day")
    return sorted(times)


def slot_times(cadence: dict[str, Any], tz_name: str, year: int, month: int, now: datetime) -> list[datetime]:
    """The month's slot times in UTC: cadence weekdays and times, skipped dates out, none in the past."""
    zone = ZoneInfo(tz_name)
    weekdays = set(cadence.get("weekdays") or range(7))
    if not weekdays <= set(range(7)):
        raise PlanningError("cadence weekdays must be 0 (Monday) to 6 (Sunday)")
    times = _parse_times(cadence.get("times"))
    per_week = int(cadence.get("posts_per_week") or len(weekdays) * len(times))
    skip = {str(d) for d in cadence.get("skip_dates") or []}
    per_week_count: dict[tuple[int, int], int] = {}
    result: list[datetime] = []
    for day_number in range(1, calendar_lib.monthrange(year, month)[1] + 1):
        day = date(year, month, day_number)
        if day.weekday() not in weekdays or day.isoformat() in skip:
            continue
        for at in times:
            week = day.isocalendar()[:2]
            if per_week_count.get(week, 0) >= per_week:
                break
            when = _local_to_utc(day, at, zone)
            if when <= now:
                continue
            per_week_count[week] = per_week_count.get(week, 0) + 1
            result.append(when)
    return result


def plan_month(session: Session, tenant_id: str, month: str, *, now: datetime | None = None) -> PlanResult:
    """Create the tenant's calendar for ``month`` once; a second call returns the first one untouched."""
    year, month_number = parse_month(month)
    month_key = f"{year:04d}-{month_number:02d}"
    tenant = session.get(Tenant, tenant_id)
    if tenant is None:
        raise PlanningError(f"no tenant {tenant_id}")
    existing = session.scalar(select(SocialCalendar).where(SocialCalendar.tenant_id == tenant_id,
                                                           SocialCalendar.month == month_key))
    if existing is not None:
        return PlanResult(existing.id, False, [s.id for s in existing.slots])
    times = slot_times(tenant.cadence or {}, tenant.timezone, year, month_number, now or utcnow())
    try:
        with session.begin_nested():
            cal = SocialCalendar(tenant_id=tenant_id, month=month_key)
            session.add(cal)
            session.flush()
    except IntegrityError:  # a concurrent plan of the same month won the race: it owns the slots
        existing = session.scalar(select(SocialCalendar).where(SocialCalendar.tenant_id == tenant_id,
                                                               SocialCalendar.month == month_key))
        assert existing is not None
        return PlanResult(existing.id, False, [s.id for s in existing.slots])
    content_types = (tenant.cadence or {}).get("content_types") or ["text"]
    themes = (tenant.cadence or {}).get("themes") or [None]
    slots = [
        CalendarSlot(calendar_id=cal.id, tenant_id=tenant_id, scheduled_at=when,
                     content_type=content_types[i % len(content_types)], theme=themes[i % len(themes)])
        for i, when in enumerate(times)
    ]
    session.add_all(slots)
    session.flush()
    for slot in slots:
        send_to_agent(session, Queue.AGENT_POST_WRITER, writer_request(tenant, slot))
    log.info("month_planned", tenant_id=tenant_id, month=month_key, slots=len(slots))
    return PlanResult(cal.id, True, [s.id for s in slots])


def writer_request(tenant: Tenant, slot: CalendarSlot) -> dict[str, Any]:
    """What the writer agent needs to produce one post: who, when, what kind, about what."""
    return {"tenant_id": tenant.id, "slot_id": slot.id, "scheduled_at": slot.scheduled_at.isoformat(),
            "local_time": slot.scheduled_at.astimezone(ZoneInfo(tenant.timezone)).isoformat(),
            "timezone": tenant.timezone, "content_type": slot.content_type, "theme": slot.theme,
            "platform": "facebook"}


def next_month(now: datetime) -> str:
    first_next = (now.replace(day=1) + timedelta(days=32)).replace(day=1)
    return first_next.strftime("%Y-%m")


def plan_next_month(session: Session, *, now: datetime | None = None) -> int:
    """Beat: queue next month's plan for every active tenant (each plan is its own task)."""
    month = next_month(now or utcnow())
    tenant_ids = session.scalars(select(Tenant.id).where(Tenant.status == TenantStatus.ACTIVE)).all()
    for tenant_id in tenant_ids:
        enqueue(session, TaskName.PLAN_MONTH, tenant_id, month)
    return len(tenant_ids)
