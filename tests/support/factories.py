"""Rows the tests need, made the way the product makes them (tokens always encrypted)."""

from __future__ import annotations

from typing import Any

from models import Integration
from models.crypto import get_cipher
from models.db import transaction
from tasks.domain.connect import store_page


def make_tenant(name: str = "Acme", *, timezone: str = "UTC", auto_publish: bool = False,
                cadence: dict[str, Any] | None = None) -> str:
    from tasks.domain.tenancy import create_tenant

    with transaction() as session:
        return create_tenant(session, name=name, timezone=timezone, auto_publish=auto_publish, cadence=cadence).id


def connect(tenant_id: str, page_id: str, token: str, name: str = "Page") -> str:
    with transaction() as session:
        return store_page(session, get_cipher(), tenant_id=tenant_id, page_id=page_id, page_name=name,
                          page_token=token).integration_id


def integration(integration_id: str) -> Integration:
    with transaction() as session:
        found = session.get(Integration, integration_id)
        assert found is not None
        session.expunge(found)
        return found

