"""Connecting Facebook Pages: verify with Graph, vet the token, store it encrypted, never duplicate.

With app credentials (``SOCIALCAL_FB_APP_ID`` and ``SOCIALCAL_FB_APP_SECRET``) a user token is first
exchanged for a long-lived one (``long_lived_user_token``), so the Page tokens derived from it do not
die within hours, and every Page token is inspected with ``debug_token`` before it is stored: a token
Meta calls invalid, one expiring within ``token_min_days``, or one without ``pages_manage_posts`` is
refused with the reason (``TokenRefused``), and nothing is stored. What ``debug_token`` said goes into
``integrations.metadata`` (``tokenExpiresAt``, ``dataAccessExpiresAt``, ``scopes``, ``tokenCheckedAt``).
Without app credentials the token is only verified against the Page (its expiry stays unknown: null).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from graph.client import GraphClient
from graph.tokens import TokenClient, TokenInfo
from models import Integration, IntegrationStatus
from models.crypto import TokenCipher
from tasks.domain.holds import release_holds
from tasks.domain.tenancy import get_tenant
from worker.core.redaction import redact_text
from worker.core.settings import Settings


class TokenRefused(ValueError):
    """The token must not be stored (Meta calls it invalid, it expires soon, or it lacks a permission)."""


def iso_now(now: float | None = None) -> str:
    return datetime.fromtimestamp(time.time() if now is None else now, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def token_metadata(info: TokenInfo | None, *, now: float) -> dict[str, Any]:
    """What integrations.metadata records about a token's health (never the token)."""
    if info is None:
        return {"tokenExpiresAt": None}
    return {"tokenExpiresAt": TokenInfo.iso(info.expires_at),
            "dataAccessExpiresAt": TokenInfo.iso(info.data_access_expires_at),
            "scopes": list(info.scopes), "tokenCheckedAt": iso_now(now), "tokenCheck": "ok"}


def vet_token(app: TokenClient | None, token: str, settings: Settings, *, now: float | None = None,
              label: str = "the token") -> dict[str, Any]:
    """``debug_token`` the token with the app token; raises ``TokenRefused`` with the reason, or returns
    the metadata to store. Without app credentials (``app`` None) nothing can be known: expiry null."""
    now = time.time() if now is None else now
    if app is None:
        return token_metadata(None, now=now)
    info = app.debug(token)
    problem = info.problem(now=now, min_days=settings.token_min_days)
    if problem:
        raise TokenRefused(redact_text(f"{label}: {problem}"))
    return token_metadata(info, now=now)


def long_lived_user_token(app: TokenClient | None, settings: Settings, user_token: str) -> str:
    """The long-lived user token for ``user_token`` (unchanged without app credentials)."""
    if app is None or not (settings.fb_app_id and settings.fb_app_secret):
        return user_token
    return app.exchange_for_long_lived(app_id=settings.fb_app_id, app_secret=settings.fb_app_secret,
                                       short_lived=user_token).access_token


@dataclass(frozen=True)
class Connected:
    integration_id: str
    page_id: str
    page_name: str
    created: bool
    token_expires_at: str | None = None


def store_page(session: Session, cipher: TokenCipher, *, tenant_id: str, page_id: str, page_name: str,
               page_token: str, token_expires_at: str | None = None,
               token_meta: dict[str, Any] | None = None) -> Connected:
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
    for stale in ("dataAccessExpiresAt", "scopes", "tokenCheckedAt", "tokenCheck"):
        meta.pop(stale, None)  # a new token: what was known about the old one no longer holds
    meta.update(token_meta or {})
    integration.meta = meta
    integration.status, integration.status_reason = IntegrationStatus.ACTIVE, None
    session.flush()
    if not created:  # a reconnected Page sends the posts that waited while it was disconnected
        release_holds(session, integration_id=integration.id, actor="reconnect")
    return Connected(integration.id, page_id, page_name, created, meta.get("tokenExpiresAt"))


def connect_page_token(session: Session, cipher: TokenCipher, client: GraphClient, *, tenant_id: str,
                       page_id: str, page_token: str, app: TokenClient | None = None,
                       settings: Settings | None = None) -> Connected:
    """Verify that the token opens the Page, vet it (with app credentials), then store it."""
    info = client.verify_page(page_id)
    meta = vet_token(app, page_token, settings or Settings(), label=f"Page {info.id}") if app else None
    return store_page(session, cipher, tenant_id=tenant_id, page_id=info.id, page_name=info.name,
                      page_token=page_token, token_meta=meta)


def connect_user_token(session: Session, cipher: TokenCipher, client: GraphClient, *,
                       tenant_id: str, app: TokenClient | None = None,
                       settings: Settings | None = None) -> list[Connected]:
    """Store the Page token of every Page the user manages (``client`` holds the user token, already
    long-lived when app credentials are set); every Page token is vetted first, and one refusal stores
    nothing."""
    pages = client.list_managed_pages()
    metas = [vet_token(app, page.access_token, settings or Settings(), label=f"Page {page.id} ({page.name})")
             if app else None for page in pages]
    return [store_page(session, cipher, tenant_id=tenant_id, page_id=page.id, page_name=page.name,
                       page_token=page.access_token, token_meta=meta)
            for page, meta in zip(pages, metas)]
