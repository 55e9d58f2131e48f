"""Tenants: creating them, the operator's controls (settings, cadence, pause and resume), and what
an operator sees of one.

Every cadence change goes through ``tasks.domain.cadence.validate_cadence``, the same check the
planner applies, so a value refused here is never stored and a stored value is never a surprise.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models import (
    Integration,
    PostStatus,
    SocialCalendar,
    SocialPost,
    Tenant,
    TenantStatus,
)
from tasks.domain.cadence import CadenceError, effective_cadence, validate_cadence, validate_partial
from tasks.domain.cadence import validate_timezone as _validate_timezone
from tasks.domain.holds import count_held, release_holds
from worker.core.logging import get_logger

log = get_logger(__name__)

MAX_NAME_CHARS = 200


class TenantError(ValueError):
    """Bad tenant input; the message is shown to the operator as is."""


def validate_timezone(name: Any) -> str:
    try:
        return _validate_timezone(name)
    except CadenceError as error:
        raise TenantError(str(error)) from None


def _name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip():
        raise TenantError("name: the tenant name is empty")
    if len(name.strip()) > MAX_NAME_CHARS:
        raise TenantError(f"name: {len(name.strip())} characters; at most {MAX_NAME_CHARS}")
    return name.strip()


def _cadence(values: Any) -> dict[str, Any]:
    try:
        return validate_cadence(values)
    except CadenceError as error:
        raise TenantError(str(error)) from None


def create_tenant(session: Session, *, name: str, timezone: str = "UTC", auto_publish: bool = False,
                  cadence: dict[str, Any] | None = None) -> Tenant:
    tenant = Tenant(name=_name(name), timezone=validate_timezone(timezone), auto_publish=bool(auto_publish),
                    cadence=_cadence(cadence if cadence is not None else {}))
    session.add(tenant)
    session.flush()
    return tenant


def get_tenant(session: Session, tenant_id: str, *, lock: bool = False) -> Tenant:
    tenant = session.get(Tenant, tenant_id, with_for_update=lock) if isinstance(tenant_id, str) else None
    if tenant is None:
        raise TenantError(f"no tenant {tenant_id}")
    return tenant


def get_page(session: Session, tenant: Tenant, integration_id: str, *, lock: bool = False) -> Integration:
    integration = session.get(Integration, integration_id, with_for_update=lock) if integration_id else None
    if integration is None or integration.tenant_id != tenant.id:
        raise TenantError(f"page: {integration_id} is not a Facebook Page connected to tenant {tenant.id}")
    return integration


def update_tenant(session: Session, tenant_id: str, *, name: str | None = None, timezone: str | None = None,
                  auto_publish: bool | None = None, cadence: dict[str, Any] | None = None) -> Tenant:
    """Change what is given; ``cadence`` holds only the fields to change. All or nothing."""
    tenant = get_tenant(session, tenant_id, lock=True)
    new_name = _name(name) if name is not None else tenant.name
    new_tz = validate_timezone(timezone) if timezone is not None else tenant.timezone
    new_cadence = tenant.cadence
    if cadence:
        try:
            changes = validate_partial(cadence)
        except CadenceError as error:
            raise TenantError(str(error)) from None
        new_cadence = _cadence({**(tenant.cadence or {}), **changes})
        # Each Page's override must still make a whole cadence with the new tenant cadence.
        for page in tenant.integrations:
            _page_cadence(new_cadence, page.cadence_override, page)
    tenant.name, tenant.timezone, tenant.cadence = new_name, new_tz, new_cadence
    if auto_publish is not None:
        tenant.auto_publish = bool(auto_publish)
    session.flush()
    log.info("tenant_updated", tenant_id=tenant.id, cadence_fields=sorted(cadence or {}))
    return tenant


def _page_cadence(tenant_cadence: Any, override: Any, page: Integration) -> dict[str, Any]:
    try:
        return effective_cadence(tenant_cadence, override)
    except CadenceError as error:
        raise TenantError(f"Page {page.id}: {error}") from None


def set_page_cadence(session: Session, tenant_id: str, integration_id: str, changes: dict[str, Any] | None, *,
                     clear: bool = False) -> Integration:
    """Override cadence fields for one Page (``clear``: drop its override, the tenant's cadence applies)."""
    tenant = get_tenant(session, tenant_id)
    page = get_page(session, tenant, integration_id, lock=True)
    if clear:
        page.cadence_override = None
    if changes:
        try:
            merged = {**(page.cadence_override or {}), **validate_partial(changes, what="Page cadence override")}
        except CadenceError as error:
            raise TenantError(str(error)) from None
        _page_cadence(tenant.cadence, merged, page)
        page.cadence_override = merged
    session.flush()
    log.info("page_cadence_updated", tenant_id=tenant.id, integration_id=page.id, cleared=clear,
             fields=sorted(changes or {}))
    return page


def pause_tenant(session: Session, tenant_id: str) -> dict[str, Any]:
    """A paused tenant plans and publishes nothing; its approved posts wait (``tasks.domain.holds``)."""
    tenant = get_tenant(session, tenant_id, lock=True)
    was = tenant.status
    tenant.status = TenantStatus.PAUSED
    approved = _count_posts(session, tenant.id, PostStatus.APPROVED)
    log.info("tenant_paused", tenant_id=tenant.id, approved_waiting=approved)
    return {"id": tenant.id, "status": tenant.status, "was": was, "approved_waiting": approved,
            "publishing_now": _count_posts(session, tenant.id, PostStatus.PUBLISHING)}


def resume_tenant(session: Session, tenant_id: str) -> dict[str, Any]:
    """Active again: every post held while paused is due now and sent after commit."""
    tenant = get_tenant(session, tenant_id, lock=True)
    was = tenant.status
    tenant.status = TenantStatus.ACTIVE
    session.flush()
    released = release_holds(session, tenant_id=tenant.id)
    log.info("tenant_resumed", tenant_id=tenant.id, released=released)
    return {"id": tenant.id, "status": tenant.status, "was": was, "released": released}


def _count_posts(session: Session, tenant_id: str, status: str) -> int:
    return int(session.scalar(select(func.count()).select_from(SocialPost).where(
        SocialPost.tenant_id == tenant_id, SocialPost.status == status)) or 0)


def tenant_details(session: Session, tenant_id: str) -> dict[str, Any]:
    """What ``tenant show`` prints: settings, cadence, each Page with its effective cadence, held
    posts and latest calendar."""
    tenant = get_tenant(session, tenant_id)
    pages = []
    for page in sorted(tenant.integrations, key=lambda i: (i.created_at, i.id)):
        try:
            effective: Any = effective_cadence(tenant.cadence, page.cadence_override)
        except CadenceError as error:
            effective = {"error": str(error)}
        latest = session.scalar(select(SocialCalendar).where(SocialCalendar.integration_id == page.id)
                                .order_by(SocialCalendar.month.desc()).limit(1))
        pages.append({
            "integration_id": page.id, "page_id": page.page_id, "page_name": page.meta.get("pageName"),
            "status": page.status, "status_reason": page.status_reason, "cadence_override": page.cadence_override,
            "cadence": effective, "held_posts": count_held(session, integration_id=page.id),
            "latest_calendar": None if latest is None else {
                "month": latest.month, "calendar_id": latest.id, "slots": len(latest.slots),
                "times": (latest.planning_notes or {}).get("times")},
        })
    return {"id": tenant.id, "name": tenant.name, "timezone": tenant.timezone, "auto_publish": tenant.auto_publish,
            "status": tenant.status, "created_at": tenant.created_at, "cadence": tenant.cadence,
            "held_posts": count_held(session, tenant_id=tenant.id), "pages": pages}
