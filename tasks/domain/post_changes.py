"""Changes to a post after approval: reschedule, cancel, and edit its message on the Page.

Each is a plain function over a locked row. The status rules are here; the Graph call goes through
``client_factory`` (a client for the post's own Page); a Graph error comes out as ``PageCallFailed``
(the error and the Page it concerns) for the task shell to retry or fail by class. A post that is being published right now raises ``TryLater``: the running
publish finishes first, so a change never races the create call.

Which node a change goes to: a video or Reel is a Video node and takes ``description``,
``scheduled_publish_time`` and ``DELETE`` on its video id (SDK AdVideo.api_update / api_delete, never
``message``); every other post (text, link, photo, album) is a Page post and takes ``message`` and
``scheduled_publish_time`` on its post id (PagePost.api_update). A photo id is never used: the Photo
node cannot be updated (SDK photo.py has no api_update).
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Iterator

from sqlalchemy.orm import Session

from graph.answers import is_page_post_id
from graph.client import GraphClient
from graph.errors import GraphError
from models import Integration, PostStatus, SocialPost, Tenant, utcnow
from tasks.domain.approval import current_hash, first_due_at, lock_post
from tasks.domain.clients import client_for_integration
from tasks.domain.errors import BadMessage, TryLater
from tasks.domain.events import record_event

ClientFactory = Callable[[Integration], GraphClient]
ON_PAGE = frozenset({PostStatus.SCHEDULED, PostStatus.PUBLISHED, PostStatus.PLATFORM_DRAFT})
RESCHEDULABLE_OFF_PAGE = frozenset({PostStatus.PENDING_APPROVAL, PostStatus.APPROVED, PostStatus.INVALID})
PUBLISHING_RECHECK_SECONDS = 30.0


def publishing_client(integration: Integration) -> GraphClient:
    return client_for_integration(integration, purpose="publish")


class PageCallFailed(Exception):
    """The Graph call of a change failed; ``error`` says how, ``integration_id`` for which Page."""

    def __init__(self, error: GraphError, integration_id: str | None) -> None:
        super().__init__(str(error))
        self.error = error
        self.integration_id = integration_id


@dataclass(frozen=True)
class Change:
    """What a change did, as the task returns it."""

    post_id: str
    status: str
    detail: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {"post_id": self.post_id, "status": self.status, **self.detail}


def _page_client(session: Session, post: SocialPost, client_factory: ClientFactory) -> GraphClient:
    integration = session.get(Integration, post.integration_id) if post.integration_id else None
    if integration is None or integration.tenant_id != post.tenant_id:
        raise BadMessage("post has no Page of its own tenant")
    return client_factory(integration)


@contextmanager
def _on_page(post: SocialPost) -> Iterator[None]:
    try:
        yield
    except GraphError as error:
        raise PageCallFailed(error, post.integration_id) from None


def _video_id(post: SocialPost) -> str | None:
    """The Video node of a video or Reel post, when publishing stored it."""
    if post.content_type not in ("video", "reel"):
        return None
    video_id = (post.graph_ids or {}).get("video_id")
    return str(video_id) if video_id else None


def _post_id(post: SocialPost) -> str:
    """The Page post id a change goes to; a bare photo id (an old row) cannot take one."""
    if not post.external_id or not is_page_post_id(post.external_id):
        raise BadMessage(f"post has no Page post id on Facebook (external_id {post.external_id!r}); "
                         "change it in Meta Business Suite")
    return post.external_id


def _not_while_publishing(post: SocialPost) -> None:
    if post.status == PostStatus.PUBLISHING:
        raise TryLater("the post is being published; the change waits for it", countdown=PUBLISHING_RECHECK_SECONDS)


def reschedule_post(session: Session, post_id: str, when: datetime, *,
                    client_factory: ClientFactory = publishing_client, now: datetime | None = None) -> Change:
    """Move a post to ``when``: on the Page when it is scheduled there, else only in the database."""
    post = lock_post(session, post_id)
    _not_while_publishing(post)
    if post.status == PostStatus.SCHEDULED and post.external_id:
        video_id = _video_id(post)
        with _on_page(post):
            client = _page_client(session, post, client_factory)
            if video_id:
                client.update_video(video_id, scheduled_at=when)
            else:
                client.reschedule_post(_post_id(post), when)
    elif post.status not in RESCHEDULABLE_OFF_PAGE:
        raise BadMessage(f"post is {post.status}; it cannot be rescheduled")
    old = post.scheduled_at
    post.scheduled_at = when
    if post.status == PostStatus.APPROVED:
        tenant = session.get(Tenant, post.tenant_id)
        assert tenant is not None
        post.due_at = first_due_at(post, tenant, now or utcnow())
        post.enqueued_at = None
    record_event(session, post, "rescheduled", old=old.isoformat() if old else None, new=when.isoformat())
    return Change(post.id, post.status, {"scheduled_at": when.isoformat()})


def cancel_post(session: Session, post_id: str, *, client_factory: ClientFactory = publishing_client) -> Change:
    """Cancel a post; one already on the Page is deleted there (a repeated cancel is a no-op)."""
    post = lock_post(session, post_id)
    if post.status == PostStatus.CANCELLED:
        return Change(post.id, post.status, {})
    _not_while_publishing(post)
    deleted = None
    if post.external_id and post.status in ON_PAGE:
        with _on_page(post):  # deleting a video deletes its post (AdVideo.api_delete)
            deleted = _page_client(session, post, client_factory).delete_post(_video_id(post) or post.external_id)
    post.status = PostStatus.CANCELLED
    post.due_at = None
    record_event(session, post, "cancelled", deleted_on_page=deleted)
    return Change(post.id, post.status, {"deleted_on_page": deleted})


def update_message(session: Session, post_id: str, message: str, *,
                   client_factory: ClientFactory = publishing_client) -> Change:
    """Propose a new text for a post on the Page; once that exact text is approved, apply it."""
    post = lock_post(session, post_id)
    if post.status not in ON_PAGE:
        raise BadMessage(f"post is {post.status}; edit it through intake and approval instead")
    edited_hash = current_hash(post, message=message)
    if post.pending_message != message or post.approved_hash != edited_hash:
        post.pending_message = message
        record_event(session, post, "edit_proposed", content_hash=edited_hash)
        return Change(post.id, "awaiting_approval", {"content_hash": edited_hash})
    video_id = _video_id(post)
    with _on_page(post):
        client = _page_client(session, post, client_factory)
        if video_id:
            client.update_video(video_id, description=message)  # a Video's caption is its description
        else:
            client.update_message(_post_id(post), message)
    post.message, post.pending_message = message, None
    post.content_hash = edited_hash
    record_event(session, post, "message_updated", content_hash=edited_hash)
    return Change(post.id, post.status, {"content_hash": edited_hash})
