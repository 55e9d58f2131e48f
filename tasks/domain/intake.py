"""Writer intake: every writer output becomes a stored post, valid or not, never dropped.

Valid output waits in ``pending_approval`` with its content hash; invalid output is stored as
``invalid`` with every reason in plain words. A slot names its Page, so output for a slot takes the
Page from the slot; an ``integration_id`` in the output that names another Page is a reason, and an
output naming another tenant's slot or Page is stored invalid under the tenant it names, touching
no row of the other tenant. The same output delivered twice is one post. A new
output for a slot whose post is not yet on Facebook replaces the content and clears any approval; a
post already on Facebook is not touched (the new output is kept in the audit trail).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from models import (
    CalendarSlot,
    Integration,
    IntegrationStatus,
    PostStatus,
    SocialPost,
    Tenant,
)
from tasks.domain.arguments import optional_uuid
from tasks.domain.content import check_content, content_hash, parse_time, payload_hash
from tasks.domain.errors import BadMessage, TryLater
from tasks.domain.events import record_event
from tasks.domain.untrusted import forbidden_reason, json_type, nesting_depth, shown, storable, storable_text
from worker.core.logging import bind_log_context, get_logger

log = get_logger(__name__)

# Statuses whose content may still be replaced by a new writer output for the same slot.
REPLACEABLE = frozenset({PostStatus.PENDING_APPROVAL, PostStatus.APPROVED, PostStatus.INVALID, PostStatus.REJECTED,
                         PostStatus.FAILED})
KNOWN_FIELDS = frozenset({"tenant_id", "slot_id", "platform", "message", "link", "media", "content_type",
                          "writer_run_id", "integration_id", "scheduled_at"})
# Writer output nests three levels at most (payload > media list > media item); far deeper is not output.
MAX_NESTING = 32
MAX_RUN_ID = 128


class IntakeRejected(BadMessage):
    """The output cannot even be attached to a tenant; it is kept in failed_jobs with this reason."""


@dataclass
class IntakeResult:
    post_id: str
    status: str
    outcome: str  # created | duplicate | replaced | kept_on_facebook
    reasons: list[str] = field(default_factory=list)


def _resolve_integration(session: Session, tenant: Tenant, requested: Any, reasons: list[str],
                         slot: CalendarSlot | None = None) -> str | None:
    if slot is not None and slot.integration_id is not None:
        return _slot_integration(session, tenant, requested, reasons, slot)
    if requested is not None:
        integration_id = optional_uuid(requested)
        integration = session.get(Integration, integration_id) if integration_id else None
        if integration is None or integration.tenant_id != tenant.id:
            reasons.append("integration_id does not name a Facebook Page connected to this tenant")
            return None
        return integration.id
    active = session.scalars(select(Integration.id).where(
        Integration.tenant_id == tenant.id, Integration.provider == "facebook",
        Integration.status == IntegrationStatus.ACTIVE)).all()
    if len(active) == 1:
        return active[0]
    reasons.append("integration_id is required: the tenant has "
                   + ("no active Facebook Page" if not active else f"{len(active)} active Facebook Pages"))
    return None


def _slot_integration(session: Session, tenant: Tenant, requested: Any, reasons: list[str],
                      slot: CalendarSlot) -> str | None:
    """The slot's Page; output that names a different one is a reason, never a silent switch."""
    integration = session.get(Integration, slot.integration_id)
    if integration is None or integration.tenant_id != tenant.id:
        reasons.append("the slot's Facebook Page is not connected to this tenant")
        return None
    if requested is not None and optional_uuid(requested) != integration.id:
        reasons.append(f"integration_id {str(requested)[:64]!r} conflicts with the slot's Page "
                       f"({integration.meta.get('pageName') or integration.page_id}, integration {integration.id}); "
                       "leave it out or name the slot's Page")
        return integration.id
    return integration.id


def _resolve_time(session: Session, tenant: Tenant, payload: dict[str, Any],
                  reasons: list[str]) -> tuple[CalendarSlot | None, datetime | None]:
    raw_slot = payload.get("slot_id")
    if raw_slot is not None:
        slot_id = optional_uuid(raw_slot)
        slot = session.get(CalendarSlot, slot_id) if slot_id else None
        if slot is None or slot.tenant_id != tenant.id:
            reasons.append("slot_id does not name a slot of this tenant's calendar")
            return None, None
        return slot, slot.scheduled_at
    if payload.get("scheduled_at") is None:
        reasons.append("scheduled_at is required when there is no slot_id")
        return None, None
    when, problem = parse_time(payload.get("scheduled_at"), "scheduled_at")
    if problem:
        reasons.append(problem)
    return None, when


def intake(session: Session, payload: Any) -> IntakeResult:
    if not isinstance(payload, dict):
        raise IntakeRejected("writer output must be a JSON object")
    tenant_id = optional_uuid(payload.get("tenant_id"))
    tenant = session.get(Tenant, tenant_id) if tenant_id else None
    if tenant is None:
        raise IntakeRejected("tenant_id does not name a tenant; the output cannot be attached to anyone")
    bind_log_context(tenant_id=tenant.id)

    reasons: list[str] = []
    depth = nesting_depth(payload, limit=MAX_NESTING + 1)
    if depth > MAX_NESTING:
        reasons.append(f"the output nests lists and objects deeper than {MAX_NESTING} levels; writer output "
                       "is a flat object with a media list")
    if payload.get("platform", "facebook") != "facebook":
        reasons.append(f"platform must be 'facebook', got {shown(payload.get('platform'))}")
    unknown = storable(sorted(set(payload) - KNOWN_FIELDS), max_text=100) or None
    run_id = _writer_run_id(payload.get("writer_run_id"), reasons)
    checked = check_content(payload)
    reasons += checked.reasons
    slot, when = _resolve_time(session, tenant, payload, reasons)
    integration_id = _resolve_integration(session, tenant, payload.get("integration_id"), reasons, slot)
    digest = payload_hash(payload)

    existing = _existing_post(session, tenant.id, slot, digest)
    if existing is not None and existing.payload_hash == digest:
        return IntakeResult(existing.id, existing.status, "duplicate", existing.invalid_reasons or [])
    if existing is not None and existing.status not in REPLACEABLE:
        record_event(session, existing, "intake_ignored", actor="writer",
                     reason=f"post is already {existing.status}; a new output cannot replace it",
                     writer_run_id=run_id, payload_hash=digest)
        return IntakeResult(existing.id, existing.status, "kept_on_facebook")

    post = existing or SocialPost(tenant_id=tenant.id, slot_id=slot.id if slot else None)
    post.integration_id = integration_id
    post.content_type = checked.content_type or (slot.content_type if slot else "text")
    post.message, post.link, post.media = checked.message, checked.link, checked.media
    post.scheduled_at = when
    post.writer_run_id = run_id
    post.payload_hash = digest
    post.content_hash = content_hash(content_type=post.content_type, message=post.message, link=post.link,
                                     media=post.media, integration_id=integration_id)
    post.invalid_reasons = reasons or None
    post.status = PostStatus.INVALID if reasons else PostStatus.PENDING_APPROVAL
    post.approved_hash = post.approved_by = post.approved_at = None
    post.due_at = post.enqueued_at = None
    outcome = "replaced" if existing is not None else "created"
    if existing is None:
        try:
            with session.begin_nested():
                session.add(post)
                session.flush()
        except IntegrityError:  # the same slot's post was created concurrently: replay against it
            raise ConcurrentIntake() from None
    # An invalid output keeps the writer's whole payload in its audit event (escaped and cut to size by
    # ``storable``), so nothing the writer sent is lost even where a column could not hold it as it was.
    record_event(session, post, "invalid" if reasons else ("replaced" if existing else "written"), actor="writer",
                 reasons=reasons or None, writer_run_id=post.writer_run_id, ignored_fields=unknown,
                 payload=storable(payload, max_depth=10) if reasons else None)
    log.info("post_intake", post_id=post.id, status=post.status, outcome=outcome, reasons=len(reasons))
    return IntakeResult(post.id, post.status, outcome, reasons)


def _writer_run_id(value: Any, reasons: list[str]) -> str | None:
    """The writer's run id as text (a number is taken as its digits); anything else is a reason."""
    if value is None or value == "":
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        reasons.append(f"writer_run_id must be text, got {json_type(value)}")
        return None
    problem = forbidden_reason("writer_run_id", value)
    if problem:
        reasons.append(problem)
    return storable_text(value, MAX_RUN_ID)[:MAX_RUN_ID]


class ConcurrentIntake(TryLater):
    """Two intakes raced for one slot; retrying (soon) sees the winner's post."""

    def __init__(self) -> None:
        super().__init__("another intake for this slot committed first", countdown=1, max_retries=3)


def _existing_post(session: Session, tenant_id: str, slot: CalendarSlot | None, digest: str) -> SocialPost | None:
    if slot is not None:
        return session.scalar(select(SocialPost).where(SocialPost.slot_id == slot.id).with_for_update())
    return session.scalar(select(SocialPost).where(SocialPost.tenant_id == tenant_id,
                                                   SocialPost.payload_hash == digest).limit(1))
