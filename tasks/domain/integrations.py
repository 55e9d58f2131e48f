"""Integration state changes that several stages share."""

from __future__ import annotations

from models import Integration, IntegrationStatus
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
