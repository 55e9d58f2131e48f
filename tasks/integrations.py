"""Celery shell for the daily token check (logic: ``tasks.domain.token_health``)."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from models.crypto import get_cipher
from tasks.base import SocialcalTask
from tasks.domain import token_health
from tasks.domain.clients import app_client, token_client
from worker.core.queues import TaskName
from worker.core.settings import get_settings


@shared_task(name=TaskName.CHECK_TOKENS.value, base=SocialcalTask, bind=True)
def check_tokens_task(self: SocialcalTask, **_unknown: Any) -> dict[str, Any]:
    """Beat, daily: one cheap call per active integration; dead tokens become ``needs_reconnect``."""
    settings = get_settings()
    summary = token_health.check_tokens(settings, get_cipher(settings), app=app_client(settings),
                                        page_client=lambda token, page_id: token_client(token, page_id, settings))
    return summary.as_dict()
