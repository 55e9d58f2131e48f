"""Tenants: creating them and validating the settings that drive planning."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.orm import Session

from models import DEFAULT_CADENCE, Tenant


class TenantError(ValueError):
    """Bad tenant input; the message is shown to the operator as is."""


def validate_timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise TenantError(f"unknown time zone {name!r} (use an IANA name such as Europe/Berlin)") from None
    return name


def create_tenant(session: Session, *, name: str, timezone: str = "UTC", auto_publish: bool = False,
                  cadence: dict[str, Any] | None = None) -> Tenant:
    if not name.strip():
        raise TenantError("tenant name is empty")
    tenant = Tenant(name=name.strip(), timezone=validate_timezone(timezone), auto_publish=auto_publish,
                    cadence={**DEFAULT_CADENCE, **(cadence or {})})
    session.add(tenant)
    session.flush()
    return tenant


def get_tenant(session: Session, tenant_id: str) -> Tenant:
    tenant = session.get(Tenant, tenant_id)
    if tenant is None:
        raise TenantError(f"no tenant {tenant_id}")
    return tenant
