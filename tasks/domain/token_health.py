"""The daily token check, and what operators see of every connected Page (``socialcal facebook list``).

Meta's tokens die for reasons socialcal cannot see coming: the admin changed a password, removed the
app, lost their role on the Page, or the token simply expired. Found only when a publish meets it,
that is a late post; so once a day (beat, ``integrations.check_tokens``, insights priority) every
active integration's token is checked with **one cheap call**:

* with app credentials, ``debug_token`` with the app token (it costs the app one call, not the Page):
  validity, ``expires_at``, ``data_access_expires_at`` and scopes are recorded in
  ``integrations.metadata`` (``tokenExpiresAt``, ``dataAccessExpiresAt``, ``scopes``);
* without them, ``GET /me?fields=id`` with the Page token itself (on the insights share of the Page's
  budget): an auth error (190, 102) means the token is dead.

A dead token (Meta's ``is_valid`` false or an auth error), an expired one, expired data access, or a
token without ``pages_manage_posts`` marks the integration ``needs_reconnect`` with Meta's reason, so
no publish is sent with it; a token that expires within ``token_min_days`` is kept working but
flagged (``tokenWarning``) for the operator. Every check records ``tokenCheckedAt`` and its outcome
(``tokenCheck``). A Graph failure that says nothing about the token (a throttle, a timeout) records
``tokenCheck: "unknown: ..."`` and changes nothing else.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable

from sqlalchemy import select
from sqlalchemy.orm import Session

from graph.budget import APP_SCOPE, GraphBudget, page_scope, token_scope
from graph.client import token_fingerprint
from graph.errors import AuthError, GraphError
from graph.tokens import TokenClient, TokenInfo
from models import Integration, IntegrationStatus, Tenant
from models.crypto import TokenCipher
from models.db import transaction
from tasks.domain.connect import iso_now, token_metadata
from tasks.domain.integrations import RECONNECT_HINT
from worker.core.logging import get_logger
from worker.core.redaction import redact_text
from worker.core.settings import Settings

log = get_logger(__name__)


@dataclass
class CheckSummary:
    checked: int = 0
    ok: int = 0
    needs_reconnect: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    unknown: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"checked": self.checked, "ok": self.ok, "needs_reconnect": self.needs_reconnect,
                "warnings": self.warnings, "unknown": self.unknown}


def _verdict(info: TokenInfo, settings: Settings, now: float) -> tuple[str | None, str | None]:
    """(reason to mark needs_reconnect, warning) for what debug_token said."""
    dead = info.problem(now=now, min_days=0)
    if dead:
        return dead, None
    return None, info.problem(now=now, min_days=settings.token_min_days)


def check_one(integration_id: str, token: str, page_id: str, settings: Settings, *,
              app: TokenClient | None, page_client: Callable[[str, str], TokenClient],
              now: float | None = None) -> tuple[str, str | None]:
    """Check one token and record the outcome; returns ("ok"|"warning"|"needs_reconnect"|"unknown", reason)."""
    now = time.time() if now is None else now
    info: TokenInfo | None = None
    reason: str | None = None
    warning: str | None = None
    try:
        if app is not None:
            info = app.debug(token)
            reason, warning = _verdict(info, settings, now)
        else:
            page_client(token, page_id).me_id()
    except AuthError as error:
        if app is not None:  # the *app* token was refused: says nothing about this Page's token
            outcome = (f"unknown: Meta refused the app token ({error}); check SOCIALCAL_FB_APP_ID and "
                       "SOCIALCAL_FB_APP_SECRET")
            _record(integration_id, {"tokenCheckedAt": iso_now(now), "tokenCheck": redact_text(outcome)[:500]}, None)
            log.error("token_check_app_token_refused", integration_id=integration_id, code=error.code)
            return "unknown", outcome
        reason = f"Meta: {error}"
    except GraphError as error:
        outcome = f"unknown: {type(error).__name__}: {error}"
        _record(integration_id, {"tokenCheckedAt": iso_now(now), "tokenCheck": redact_text(outcome)[:500]}, None)
        log.warning("token_check_inconclusive", integration_id=integration_id, error_class=type(error).__name__)
        return "unknown", outcome
    meta = token_metadata(info, now=now) if info is not None else {}
    meta.update({"tokenCheckedAt": iso_now(now),
                 "tokenCheck": "ok" if not (reason or warning) else redact_text(reason or warning or "")[:500],
                 "tokenWarning": redact_text(warning)[:500] if warning else None})
    _record(integration_id, meta, redact_text(f"token check: {reason} — {RECONNECT_HINT}")[:2000] if reason else None)
    if reason:
        log.warning("token_check_needs_reconnect", integration_id=integration_id)
        return "needs_reconnect", reason
    if warning:
        log.warning("token_check_expiring", integration_id=integration_id)
        return "warning", warning
    return "ok", None


def _record(integration_id: str, meta: dict[str, Any], reconnect_reason: str | None) -> None:
    with transaction() as session:
        integration = session.get(Integration, integration_id, with_for_update=True)
        if integration is None:
            return
        merged = dict(integration.meta or {})
        merged.update(meta)
        integration.meta = merged
        if reconnect_reason and integration.status == IntegrationStatus.ACTIVE:
            integration.status = IntegrationStatus.NEEDS_RECONNECT
            integration.status_reason = reconnect_reason


def check_tokens(settings: Settings, cipher: TokenCipher, *, app: TokenClient | None,
                 page_client: Callable[[str, str], TokenClient], now: float | None = None) -> CheckSummary:
    """Check every active Facebook integration's token (one call each), one transaction per Page."""
    with transaction() as session:
        rows = [(i.id, i.api_key, i.page_id) for i in session.scalars(
            select(Integration).where(Integration.provider == "facebook",
                                      Integration.status == IntegrationStatus.ACTIVE).order_by(Integration.id))]
    summary = CheckSummary()
    for integration_id, api_key, page_id in rows:
        summary.checked += 1
        try:
            token = cipher.decrypt(api_key)
        except Exception:  # noqa: BLE001 - one Page's bad ciphertext is its problem, said in words
            _record(integration_id, {"tokenCheckedAt": iso_now(now), "tokenCheck": "the token cannot be decrypted"},
                    f"the stored token cannot be decrypted with SOCIALCAL_ENCRYPTION_KEYS — {RECONNECT_HINT}")
            summary.needs_reconnect.append(integration_id)
            continue
        outcome, _ = check_one(integration_id, token, page_id, settings, app=app, page_client=page_client, now=now)
        if outcome == "needs_reconnect":
            summary.needs_reconnect.append(integration_id)
        elif outcome == "warning":
            summary.warnings.append(integration_id)
            summary.ok += 1
        elif outcome == "unknown":
            summary.unknown += 1
        else:
            summary.ok += 1
    log.info("token_check_done", **summary.as_dict())
    return summary


def list_pages(session: Session, budget: GraphBudget | None, cipher: TokenCipher,
               now: float | None = None) -> list[dict[str, Any]]:
    """Every connected Facebook Page for ``socialcal facebook list``: Page, tenant, status, token expiry,
    last check, and the pauses in force on the app, its token and its Page."""
    now = time.time() if now is None else now
    rows = session.execute(select(Integration, Tenant.name).join(Tenant, Tenant.id == Integration.tenant_id)
                           .where(Integration.provider == "facebook")
                           .order_by(Tenant.name, Integration.id)).all()
    found = []
    for integration, tenant_name in rows:
        meta = dict(integration.meta or {})
        scopes = [APP_SCOPE, page_scope(integration.page_id)]
        try:
            scopes.append(token_scope(token_fingerprint(cipher.decrypt(integration.api_key))))
        except Exception:  # noqa: BLE001 - shown as a status, not a crash
            meta.setdefault("tokenCheck", "the token cannot be decrypted")
        pauses = budget.pauses_in_force(scopes, now=now) if budget is not None else {}
        found.append({
            "integration_id": integration.id, "page_id": integration.page_id, "page_name": meta.get("pageName"),
            "tenant_id": integration.tenant_id, "tenant": tenant_name, "status": integration.status,
            "status_reason": integration.status_reason, "token_expires_at": meta.get("tokenExpiresAt"),
            "data_access_expires_at": meta.get("dataAccessExpiresAt"), "scopes": meta.get("scopes"),
            "last_check": meta.get("tokenCheckedAt"), "check": meta.get("tokenCheck"),
            "warning": meta.get("tokenWarning"),
            "pauses": {scope.split(":", 1)[0]: {"until": TokenInfo.iso(p["until"]),
                                                 "seconds_left": round(p["until"] - now, 1), "reason": p["reason"]}
                       for scope, p in pauses.items()},
        })
    return found
