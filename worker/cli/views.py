"""How rows look to an operator: one dict per row, shared by tables and ``--json``."""

from __future__ import annotations

from typing import Any

from models import FailedJob, Integration, PostEvent, SocialPost, Tenant


def tenant_view(tenant: Tenant) -> dict[str, Any]:
    return {"id": tenant.id, "name": tenant.name, "timezone": tenant.timezone,
            "auto_publish": tenant.auto_publish, "status": tenant.status, "created_at": tenant.created_at}


def integration_view(integration: Integration) -> dict[str, Any]:
    # Never the api_key: not even encrypted, an operator listing has no use for it.
    return {"id": integration.id, "tenant_id": integration.tenant_id, "provider": integration.provider,
            "page_id": integration.page_id, "page_name": integration.meta.get("pageName"),
            "status": integration.status, "status_reason": integration.status_reason}


def post_view(post: SocialPost) -> dict[str, Any]:
    return {
        "id": post.id, "tenant_id": post.tenant_id, "integration_id": post.integration_id, "slot_id": post.slot_id,
        "status": post.status, "content_type": post.content_type, "scheduled_at": post.scheduled_at,
        "message": post.message, "link": post.link, "media": post.media, "content_hash": post.content_hash,
        "approved_by": post.approved_by, "approved_at": post.approved_at, "invalid_reasons": post.invalid_reasons,
        "publish_mode": post.publish_mode, "external_id": post.external_id, "publish_url": post.publish_url,
        "graph_ids": post.graph_ids, "last_error": post.last_error, "hold_reason": post.hold_reason,
        "attempts": post.attempts,
        "created_at": post.created_at, "updated_at": post.updated_at,
    }


def event_view(event: PostEvent) -> dict[str, Any]:
    return {"id": event.id, "kind": event.kind, "actor": event.actor, "detail": event.detail,
            "created_at": event.created_at}


def job_view(job: FailedJob) -> dict[str, Any]:
    return {"id": job.id, "task_name": job.task_name, "status": job.status, "error_class": job.error_class,
            "error_code": job.error_code, "error_message": job.error_message, "hint": job.hint,
            "tenant_id": job.tenant_id, "post_id": job.post_id, "args": job.args, "kwargs": job.kwargs,
            "raw_message": job.raw_message, "requeue_count": job.requeue_count, "created_at": job.created_at,
            "requeued_at": job.requeued_at}
