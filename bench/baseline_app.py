"""The pipeline benchmark's workers: socialcal's own Celery app plus one same-work baseline task.

``bench/pipeline.py`` compares publishing with the floor any design with the same round trips has:
``bench.same_work`` does what one scheduled text post must do and nothing else — three commits on
one ``social_posts`` row (the first also reads the Page's encrypted token, as the claim reads the
post), one call of the shared budget's Lua script, one HTTP POST of a scheduled post to the sandbox
Page — written plainly by hand, without the gate, the audit rows, the in-flight marks or the
logging. It runs in the same worker processes, on the same pool and queue (``publish``), with the
same app settings (late acks, task events, the guarded transport), so pipeline ÷ baseline is what
the product's own code costs on top of its round trips. Started as
``python -m celery -A bench.baseline_app:app worker --pool threads -Q publish``.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import bindparam, select, update

from graph.client import token_fingerprint
from graph.http import ThreadSessions
from models import Integration, SocialPost
from models.crypto import get_cipher
from models.db import transaction
from tasks.domain.clients import budget_for, state_redis
from worker.app import app
from worker.core.settings import get_settings

__all__ = ["app", "same_work"]

_posts = SocialPost.__table__
TOUCH = update(_posts).where(_posts.c.id == bindparam("p_id")).values(attempts=_posts.c.attempts + 1)
TOKEN = select(Integration.api_key).where(Integration.id == bindparam("p_integration"))
_http = ThreadSessions()


def counter_key(run_id: str) -> str:
    return f"bench:same_work:{run_id}"


@app.task(name="bench.same_work", ignore_result=True)
def same_work(post_id: str, integration_id: str, page_id: str, message: str, run_id: str, expected: int,
              **_unknown: Any) -> None:
    settings = get_settings()
    with transaction() as session:  # commit 1 (the claim's): the row, and the Page's token
        session.execute(TOUCH, {"p_id": post_id})
        api_key = session.execute(TOKEN, {"p_integration": integration_id}).scalar_one()
    token = get_cipher(settings).decrypt(api_key)
    with transaction() as session:  # commit 2 (the intent before the call)
        session.execute(TOUCH, {"p_id": post_id})
    budget_for(settings).acquire(token_fingerprint(token), "publish", scope_id=page_id)
    when = int((datetime.now(timezone.utc) + timedelta(days=2)).timestamp())
    response = _http.request("POST", f"{settings.graph_url}/{page_id}/feed",
                             data={"message": message, "published": "false", "scheduled_publish_time": when},
                             headers={"Authorization": f"OAuth {token}"}, timeout=(3.05, 30.0))
    response.raise_for_status()
    with transaction() as session:  # commit 3 (the outcome)
        session.execute(TOUCH, {"p_id": post_id})
    redis = state_redis(settings)
    assert redis is not None
    if redis.incr(counter_key(run_id)) == expected:
        redis.set(counter_key(run_id) + ":done", repr(time.time()))
