"""Connecting Facebook Pages: verify with Graph, store the Page token encrypted, never duplicate."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from graph.client import GraphClient
from models import Integration, IntegrationStatus
from models.crypto import TokenCipher
from tasks.domain.holds import release_holds
from tasks.domain.tenancy import get_tenant


@dataclass(frozen=True)
class Connected:
    integration_id: str
    page_id: str
    page_name: str
    created: bool


def store_page(session: Session, cipher: TokenCipher, *, tenant_id: str, page_id: str, page_name: str,
               page_token: str, token_expires_at: str | None = None) -> Connected:
    """Create or update the tenant's integration for this Page (re-running updates, never duplicates)."""
    get_tenant(session, tenant_id)
    integration = session.scalar(select(Integration).where(
        Integration.tenant_id == tenant_id, Integration.provider == "facebook",
        Integration.external_account_id == page_id).with_for_update())
    created = integration is None
    if integration is None:
        integration = Integration(tenant_id=tenant_id, provider="facebook", external_account_id=page_id)
        session.add(integration)
    integration.api_key = cipher.encrypt(page_token)
    meta: dict[str, Any] = {k: v for k, v in dict(integration.meta or {}).items()}
    meta.update({"pageId": page_id, "pageName": page_name, "tokenExpiresAt": token_expires_at})
    integration.meta = meta
    integration.status, integration.status_reason = IntegrationStatus.ACTIVE, None
    session.flush()
    if not created:  # a reconnected Page sends the posts that waited while it was disconnected
        release_holds(session, integration_id=integration.id, actor="reconnect")
    return Connected(integration.id, page_id, page_name, created)


def connect_page_token(session: Session, cipher: TokenCipher, client: GraphClient, *, tenant_id: str,
                       page_id: str, page_token: str) -> Connected:
    """Verify that the token opens the Page, then store it."""
    info = client.verify_page(page_id)
    return store_page(session, cipher, tenant_id=tenant_id, page_id=info.id, page_name=info.name,
                      page_token=page_token)


def connect_user_token(session: Session, cipher: TokenCipher, client: GraphClient, *,
                       tenant_id: str) -> list[Connected]:
    """Exchange a user token for the Page tokens of every Page the user manages."""
    return [store_page(session, cipher, tenant_id=tenant_id, page_id=page.id, page_name=page.name,
                       page_token=page.access_token)
            for page in client.list_managed_pages()]
