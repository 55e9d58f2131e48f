"""Calendar planning: each active Page of a tenant gets its month of post slots, each a writer request.

One calendar per Page and month: the unique (integration, month) row is the lock, so planning a
month twice changes nothing, and a Page connected later is planned by the next run while the Pages
already planned are left as they are. A Page plans with its tenant's cadence and its own override on
top (``integrations.cadence_override``). Cross-posting one idea to several Pages is several slots,
one per Page: Pages with the same cadence get slots at the same times with the same theme.

Slots are computed in the tenant's local time and stored in UTC, so a 10:00 post stays at 10:00 local
across daylight-saving changes. A local time that does not exist (the spring-forward gap) moves
forward by the gap; an ambiguous one (the autumn repeat) takes its first occurrence. With
``"times": "best"`` the Page's own results choose weekday and hour (``tasks.domain.best_times``); the
calendar's ``planning_notes`` record the cadence used and which times were chosen, and why.

A paused tenant plans nothing; a cadence or time zone that does not validate (even one written by
SQL) fails the whole plan with a one-line reason naming the field and the Page, before anything is
created.
"""

from __future__ import annotations

import calendar as calendar_lib
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Any, Iterable, Sequence
from zoneinfo import ZoneInfo

from sqlalchemy import exists, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from models import (
    CalendarSlot,
    Integration,
    IntegrationStatus,
    SocialCalendar,
    Tenant,
    TenantStatus,
    utcnow,
)
from tasks.domain.best_times import DAY_ABBR, choose_times, load_samples
from tasks.domain.cadence import BEST, CadenceError, effective_cadence, validate_cadence, validate_timezone
from tasks.domain.messaging import enqueue, send_to_agent
from worker.core.logging import get_logger
from worker.core.queues import Queue, TaskName

log = get_logger(__name__)


class PlanningError(ValueError):
    """Bad month, cadence or tenant state; shown to the operator as is."""


@dataclass(frozen=True)
class PagePlan:
    """One Page's calendar for the month (``created`` False: it was planned before and left alone)."""

    integration_id: str
    page_id: str
    page_name: str | None
    calendar_id: str
    created: bool
    slot_ids: list[str]
    notes: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"integration_id": self.integration_id, "page_id": self.page_id, "page_name": self.page_name,
                "calendar_id": self.calendar_id, "created": self.created, "slots": len(self.slot_ids),
                "times": (self.notes or {}).get("times")}


@dataclass(frozen=True)
class PlanResult:
    tenant_id: str
    month: str
    pages: list[PagePlan]
    note: str | None = None  # why nothing was planned, when that is not an error

    @property
    def created(self) -> bool:
        return any(p.created for p in self.pages)

    @property
    def slot_ids(self) -> list[str]:
        return [slot_id for page in self.pages for slot_id in page.slot_ids]

    def as_dict(self) -> dict[str, Any]:
        return {"tenant_id": self.tenant_id, "month": self.month, "created": self.created,
                "slots": len(self.slot_ids), "pages": [p.as_dict() for p in self.pages], "note": self.note}


@dataclass
class _PagePlanInput:
    integration: Integration
    cadence: dict[str, Any]
    cells: list[tuple[int, time]] = field(default_factory=list)
    times_notes: dict[str, Any] = field(default_factory=dict)


def parse_month(month: Any) -> tuple[int, int]:
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


def _times(values: Iterable[str]) -> list[time]:
    return sorted(time.fromisoformat(v) for v in values)


def month_slot_times(cells: Sequence[tuple[int, time]], zone: ZoneInfo, year: int, month: int, now: datetime, *,
                     posts_per_week: int, skip_dates: Iterable[str] = ()) -> list[datetime]:
    """The month's slot times in UTC: one per (weekday, local time) cell, at most ``posts_per_week``
    per ISO week (earliest first), skipped dates out, none in the past."""
    by_day: dict[int, list[time]] = {}
    for day, at in cells:
        by_day.setdefault(day, []).append(at)
    skip = set(skip_dates)
    per_week_count: dict[tuple[int, int], int] = {}
    result: list[datetime] = []
    for day_number in range(1, calendar_lib.monthrange(year, month)[1] + 1):
        day = date(year, month, day_number)
        if day.isoformat() in skip:
            continue
        for at in sorted(by_day.get(day.weekday(), [])):
            week = day.isocalendar()[:2]
            if per_week_count.get(week, 0) >= posts_per_week:
                break
            when = _local_to_utc(day, at, zone)
            if when <= now:
                continue
            per_week_count[week] = per_week_count.get(week, 0) + 1
            result.append(when)
    return result


def slot_times(cadence: dict[str, Any], tz_name: str, year: int, month: int, now: datetime) -> list[datetime]:
    """The month's slot times in UTC for a cadence with fixed times (weekdays × times)."""
    try:
        checked = validate_cadence(cadence)
        zone = ZoneInfo(validate_timezone(tz_name))
    except CadenceError as error:
        raise PlanningError(str(error)) from None
    if checked["times"] == BEST:
        raise PlanningError("cadence.times: \"best\" needs the Page's metrics; plan the month with plan_month")
    cells = [(day, at) for day in checked["weekdays"] for at in _times(checked["times"])]
    return month_slot_times(cells, zone, year, month, now, posts_per_week=checked["posts_per_week"],
                            skip_dates=checked["skip_dates"])


def _choose_cells(session: Session, item: _PagePlanInput, zone: ZoneInfo, now: datetime) -> None:
    cadence = item.cadence
    if cadence["times"] != BEST:
        item.cells = [(day, at) for day in cadence["weekdays"] for at in _times(cadence["times"])]
        item.times_notes = {"mode": "fixed", "source": "configured",
                            "chosen": [f"{DAY_ABBR[d]} {t.strftime('%H:%M')}" for d, t in item.cells],
                            "reason": "the cadence's configured times"}
        return
    samples = load_samples(session, item.integration.id, zone, now)
    choice = choose_times(samples, weekdays=cadence["weekdays"], posts_per_week=cadence["posts_per_week"],
                          fallback_times=_times(cadence["fallback_times"]))
    item.cells, item.times_notes = choice.cells, choice.notes()


def plan_month(session: Session, tenant_id: str, month: str, *, now: datetime | None = None) -> PlanResult:
    """Plan ``month`` for every active Page of the tenant that has no calendar for it yet."""
    year, month_number = parse_month(month)
    month_key = f"{year:04d}-{month_number:02d}"
    now = now or utcnow()
    tenant = session.get(Tenant, tenant_id)
    if tenant is None:
        raise PlanningError(f"no tenant {tenant_id}")
    if tenant.status != TenantStatus.ACTIVE:
        raise PlanningError(f"tenant {tenant.name!r} is {tenant.status}: it plans nothing until "
                            "`socialcal tenant resume`")
    legacy = session.scalar(select(SocialCalendar).where(
        SocialCalendar.tenant_id == tenant_id, SocialCalendar.month == month_key,
        SocialCalendar.integration_id.is_(None)))
    if legacy is not None:
        return PlanResult(tenant_id, month_key, [], note=(
            f"{month_key} was planned for the whole tenant before calendars were per Page "
            f"(calendar {legacy.id}); it is left as it is"))
    pages = session.scalars(select(Integration).where(
        Integration.tenant_id == tenant_id, Integration.provider == "facebook",
        Integration.status == IntegrationStatus.ACTIVE).order_by(Integration.created_at, Integration.id)).all()
    if not pages:
        raise PlanningError(f"tenant {tenant.name!r} has no active Facebook Page to plan for: connect one with "
                            "`socialcal facebook connect`")
    try:
        zone = ZoneInfo(validate_timezone(tenant.timezone))
    except CadenceError as error:
        raise PlanningError(f"tenant {tenant.name!r}: {error}") from None
    existing = {c.integration_id: c for c in session.scalars(select(SocialCalendar).where(
        SocialCalendar.tenant_id == tenant_id, SocialCalendar.month == month_key))}
    # Every cadence is checked before anything is created: a bad one fails the plan as a whole.
    inputs: list[_PagePlanInput] = []
    for page in pages:
        if page.id in existing:
            continue
        try:
            inputs.append(_PagePlanInput(page, effective_cadence(tenant.cadence, page.cadence_override)))
        except CadenceError as error:
            raise PlanningError(f"Page {page.meta.get('pageName') or page.page_id} ({page.id}): {error}") from None
    planned = {item.integration.id: _plan_page(session, tenant, item, zone, year, month_number, month_key, now)
               for item in inputs}
    results = [planned.get(page.id) or _page_plan(page, existing[page.id], created=False) for page in pages]
    log.info("month_planned", tenant_id=tenant_id, month=month_key, pages=len(results),
             new_pages=sum(1 for r in results if r.created), slots=sum(len(r.slot_ids) for r in results if r.created))
    return PlanResult(tenant_id, month_key, results)


def _page_plan(page: Integration, cal: SocialCalendar, *, created: bool) -> PagePlan:
    return PagePlan(page.id, page.page_id, page.meta.get("pageName"), cal.id, created, [s.id for s in cal.slots],
                    cal.planning_notes)


def _plan_page(session: Session, tenant: Tenant, item: _PagePlanInput, zone: ZoneInfo, year: int, month: int,
               month_key: str, now: datetime) -> PagePlan:
    page, cadence = item.integration, item.cadence
    _choose_cells(session, item, zone, now)
    times = month_slot_times(item.cells, zone, year, month, now, posts_per_week=cadence["posts_per_week"],
                             skip_dates=cadence["skip_dates"])
    notes = {"cadence": cadence, "override": sorted(page.cadence_override or {}), "timezone": tenant.timezone,
             "times": item.times_notes, "planned_at": now.isoformat()}
    try:
        with session.begin_nested():
            cal = SocialCalendar(tenant_id=tenant.id, integration_id=page.id, month=month_key, planning_notes=notes)
            session.add(cal)
            session.flush()
    except IntegrityError:  # a concurrent plan of this Page's month won the race: it owns the slots
        winner = session.scalar(select(SocialCalendar).where(SocialCalendar.integration_id == page.id,
                                                             SocialCalendar.month == month_key))
        assert winner is not None
        return _page_plan(page, winner, created=False)
    content_types, themes = cadence["content_types"], cadence["themes"]
    slots = [CalendarSlot(calendar_id=cal.id, tenant_id=tenant.id, integration_id=page.id, scheduled_at=when,
                          content_type=content_types[i % len(content_types)], theme=themes[i % len(themes)])
             for i, when in enumerate(times)]
    session.add_all(slots)
    session.flush()
    for slot in slots:
        send_to_agent(session, Queue.AGENT_POST_WRITER, writer_request(tenant, page, slot))
    return PagePlan(page.id, page.page_id, page.meta.get("pageName"), cal.id, True, [s.id for s in slots], notes)


def writer_request(tenant: Tenant, page: Integration, slot: CalendarSlot) -> dict[str, Any]:
    """What the writer agent needs to produce one post: for which Page, when, what kind, about what."""
    return {"tenant_id": tenant.id, "slot_id": slot.id, "integration_id": page.id, "page_id": page.page_id,
            "page_name": page.meta.get("pageName"), "scheduled_at": slot.scheduled_at.isoformat(),
            "local_time": slot.scheduled_at.astimezone(ZoneInfo(tenant.timezone)).isoformat(),
            "timezone": tenant.timezone, "content_type": slot.content_type, "theme": slot.theme,
            "platform": "facebook"}


def next_month(now: datetime) -> str:
    first_next = (now.replace(day=1) + timedelta(days=32)).replace(day=1)
    return first_next.strftime("%Y-%m")


def plan_next_month(session: Session, *, now: datetime | None = None) -> int:
    """Beat: queue next month's plan for every active tenant with an active Page (one task each)."""
    month = next_month(now or utcnow())
    has_page = exists().where(Integration.tenant_id == Tenant.id, Integration.provider == "facebook",
                              Integration.status == IntegrationStatus.ACTIVE)
    tenant_ids = session.scalars(select(Tenant.id).where(Tenant.status == TenantStatus.ACTIVE, has_page)).all()
    for tenant_id in tenant_ids:
        enqueue(session, TaskName.PLAN_MONTH, tenant_id, month)
    return len(tenant_ids)
