"""How the domain gets a Graph client: the right token, the shared budget, one HTTP pool per process.

Every Graph call the pipeline makes goes through a client built here, so every call draws from the
shared budget (``graph.budget``) at the priority of its purpose: publishing may use the whole
budget, insights only its share. This lives in the domain, not in ``graph/``, because building a
client for an integration means decrypting its token (``models.crypto``) and choosing the budget
store from the settings: the Graph package itself knows nothing of the database.
"""

from __future__ import annotations

from typing import Literal

import redis

from graph.budget import BudgetHooks, GraphBudget
from graph.client import GraphClient
from graph.errors import ReelLimitReached, Transient
from graph.http import ThreadSessions
from graph.local_budget import ProcessBudget
from graph.metering import MeteredHooks
from graph.tokens import TokenClient, app_access_token
from models.crypto import get_cipher
from models.tenancy import Integration
from worker.core.process_local import PerProcess
from worker.core.settings import Settings, get_settings

Purpose = Literal["publish", "insights"]

_sessions: PerProcess[str, ThreadSessions] = PerProcess()
_redis_clients: PerProcess[str, redis.Redis] = PerProcess()
_budgets: PerProcess[Settings, GraphBudget] = PerProcess()


def _shared_session() -> ThreadSessions:
    """One pooled Session per thread of this process (keep-alive across tasks; never shared across a
    fork, nor between the threads of a ``--pool threads`` worker: ``requests.Session`` is not
    documented as thread-safe). Redis clients and budgets are shared: redis-py's pool is thread-safe."""
    return _sessions.get("graph", ThreadSessions)


def redis_client(url: str) -> redis.Redis:
    """This process's client for the Redis at ``url`` (budget, throttle state, recovery guard).

    redis-py drops a connection that failed and opens a new one on the next command, so after a
    Redis restart the first command fails (and the budget fails closed, as a transient error) and
    the next ones work again.
    """
    return _redis_clients.get(url, lambda: redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=3,
                                                                health_check_interval=30))


def state_redis(settings: Settings) -> redis.Redis | None:
    """This process's client for the Redis holding budgets and operational state (None: the demo's
    in-memory broker, which has no Redis)."""
    if settings.redis_url is None and settings.broker_url.startswith("memory://"):
        return None
    return redis_client(settings.budget_redis_url)


def _make_budget(settings: Settings) -> GraphBudget:
    if settings.redis_url is None and settings.broker_url.startswith("memory://"):
        # The embedded demo: one process, no Redis (see graph.local_budget).
        return ProcessBudget(settings)
    return GraphBudget(redis_client(settings.budget_redis_url), settings)


def budget_for(settings: Settings) -> GraphBudget:
    """This process's budget for ``settings``: Redis-backed, or in-process for the embedded demo."""
    return _budgets.get(settings, lambda: _make_budget(settings))


def hooks_for(purpose: Purpose, settings: Settings) -> BudgetHooks:
    """The client hooks for ``purpose`` ("publish" or "insights")."""
    return BudgetHooks(budget_for(settings), purpose)


def client_for_token(token: str, *, purpose: Purpose, scope_id: str | None = None,
                     settings: Settings | None = None, budgeted: bool = True,
                     client_class: type[GraphClient] = GraphClient, proof: bool = True) -> GraphClient:
    settings = settings or get_settings()
    return client_class(
        token,
        base_url=settings.graph_url,
        video_url=settings.graph_video_url,
        app_secret=settings.fb_app_secret if proof else None,
        read_timeout=settings.graph_timeout_seconds,
        session=_shared_session(),
        # Every request is counted for the metrics (by route template), budgeted or not.
        hooks=MeteredHooks(hooks_for(purpose, settings) if budgeted else None, purpose),
        scope_id=scope_id,
    )


def app_client(settings: Settings | None = None) -> TokenClient | None:
    """A client holding the app token (exchange, debug_token), or None without SOCIALCAL_FB_APP_ID and
    SOCIALCAL_FB_APP_SECRET. Its calls count against the app, not a Page: metered, not Page-budgeted."""
    settings = settings or get_settings()
    if not (settings.fb_app_id and settings.fb_app_secret):
        return None
    client = client_for_token(app_access_token(settings.fb_app_id, settings.fb_app_secret), purpose="insights",
                              settings=settings, budgeted=False, client_class=TokenClient, proof=False)
    assert isinstance(client, TokenClient)
    return client


def token_client(token: str, page_id: str | None, settings: Settings | None = None) -> TokenClient:
    """A Page-token client for the cheap ``/me`` check, on the insights share of the Page's budget."""
    client = client_for_token(token, purpose="insights", scope_id=page_id, settings=settings,
                              client_class=TokenClient)
    assert isinstance(client, TokenClient)
    return client


def client_for_integration(integration: Integration, *, purpose: Purpose,
                           settings: Settings | None = None) -> GraphClient:
    settings = settings or get_settings()
    token = get_cipher(settings).decrypt(integration.api_key)
    return client_for_token(token, purpose=purpose, scope_id=integration.page_id, settings=settings)


def reserve_reel_slot(settings: Settings, page_id: str) -> None:
    """Take one of the Page's API-published Reel slots (Meta: 30 per Page per 24 h) before a Reel upload
    starts; raises ``ReelLimitReached`` (nothing sent, the post waits until ``retry_at``) when none is free."""
    try:
        decision = budget_for(settings).reserve_reel(page_id)
    except redis.RedisError as exc:
        raise Transient(f"Reels limit unavailable ({type(exc).__name__}); nothing was sent") from None
    if not decision.allowed:
        raise ReelLimitReached(f"Reels limit: {decision.reason}", retry_at=decision.retry_at)
