"""Integration state changes that several stages share."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models import Integration, IntegrationStatus, PostStatus, SocialPost
from models.db import transaction
from worker.core.logging import get_logger
from worker.core.redaction import redact_text

log = get_logger(__name__)

RECONNECT_HINT = "reconnect the Page with `socialcal facebook connect`"


def mark_needs_reconnect(integration_id: str, error: BaseException) -> None:
    """Flag the Page so no more work is sent for it until an operator reconnects it."""
    with transaction() as session:
        integration = session.get(Integration, integration_id, with_for_update=True)
        if integration is None:
            return
        integration.status = IntegrationStatus.NEEDS_RECONNECT
        integration.status_reason = redact_text(f"{error} — {RECONNECT_HINT}")[:2000]
    log.warning("integration_needs_reconnect", integration_id=integration_id, error_class=type(error).__name__)


DISCONNECTED_BY_OPERATOR = "disconnected by an operator (`socialcal facebook disconnect`); reconnect with " \
    "`socialcal facebook connect`"


def disconnect_integration(session: Session, integration_id: str) -> dict[str, Any]:
    """Disable a Page: nothing more is planned, published or pulled for it; its approved posts wait.

    The Page token stays stored (encrypted) so a reconnect with a fresh token simply replaces it.
    Posts already scheduled on Facebook stay on Facebook: socialcal cannot reach the Page any more,
    so the operator is told how many there are.
    """
    integration = session.get(Integration, integration_id, with_for_update=True) if integration_id else None
    if integration is None:
        raise IntegrationNotFound(f"no Facebook Page integration {integration_id}")
    was = integration.status
    integration.status = IntegrationStatus.DISABLED
    integration.status_reason = DISCONNECTED_BY_OPERATOR
    counts = dict(session.execute(
        select(SocialPost.status, func.count()).where(SocialPost.integration_id == integration.id,
                                                      SocialPost.status.in_([PostStatus.APPROVED,
                                                                             PostStatus.PUBLISHING,
                                                                             PostStatus.SCHEDULED]))
        .group_by(SocialPost.status)).all())
    log.info("integration_disconnected", integration_id=integration.id, was=was)
    return {"integration_id": integration.id, "tenant_id": integration.tenant_id, "page_id": integration.page_id,
            "page_name": integration.meta.get("pageName"), "status": integration.status, "was": was,
            "approved_waiting": int(counts.get(PostStatus.APPROVED, 0)),
            "publishing_now": int(counts.get(PostStatus.PUBLISHING, 0)),
            "scheduled_on_facebook": int(counts.get(PostStatus.SCHEDULED, 0))}


class IntegrationNotFound(LookupError):
    """The operator named an integration that does not exist."""
