"""How a task gets a Graph client: the right token, the shared budget, one HTTP pool per process.

Every Graph call a task makes goes through a client built here, so every call draws from the shared
Redis budget of its token (``graph.budget``) at the priority of its purpose: publishing may use the
whole budget, insights only its share.
"""

from __future__ import annotations

from typing import Literal

import requests
from requests.adapters import HTTPAdapter

from graph.client import GraphClient
from models.crypto import get_cipher
from models.tenancy import Integration
from worker.process_local import PerProcess
from worker.settings import Settings, get_settings

Purpose = Literal["publish", "insights"]

_sessions: PerProcess[str, requests.Session] = PerProcess()


def _new_session() -> requests.Session:
    session = requests.Session()
    adapter = HTTPAdapter(pool_connections=8, pool_maxsize=32, max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


def _shared_session() -> requests.Session:
    """One pooled Session per process (keep-alive across tasks; never shared across a fork)."""
    return _sessions.get("graph", _new_session)


def client_for_token(token: str, *, purpose: Purpose, scope_id: str | None = None,
                     settings: Settings | None = None, budgeted: bool = True) -> GraphClient:
    from graph.budget import hooks_for

    settings = settings or get_settings()
    return GraphClient(
        token,
        base_url=settings.graph_url,
        video_url=settings.graph_video_url,
        app_secret=settings.fb_app_secret,
        read_timeout=settings.graph_timeout_seconds,
        session=_shared_session(),
        hooks=hooks_for(purpose, settings) if budgeted else None,
        scope_id=scope_id,
    )


def client_for_integration(integration: Integration, *, purpose: Purpose,
                           settings: Settings | None = None) -> GraphClient:
    settings = settings or get_settings()
    token = get_cipher(settings).decrypt(integration.api_key)
    return client_for_token(token, purpose=purpose, scope_id=integration.page_id, settings=settings)
