"""Beat with a leader: any number of beat processes run, the one holding a Redis lock schedules.

Built on celery-redbeat (``redbeat.RedBeatScheduler``): its lock makes one beat the leader, and it
keeps each schedule entry's last run in Redis, so the beat that takes over neither repeats nor skips
what the dead leader already sent. A standby waits for the lock at start; the leader renews it on
every loop, so a dead leader's lock expires within ``redbeat_lock_timeout`` and a standby takes over.

RedBeat alone ends the beat process whenever its lock is gone (a Redis restart without persistence
loses the lock and every entry), leaving a restart to the supervisor. ``LeaderScheduler`` stays up
instead: on every loop it makes sure it still holds the lock, takes it when it is free (a Redis
restart, a leader that died), re-installs the schedule when it becomes leader (the entries may have
gone with Redis), and otherwise sends nothing that loop. With Redis unreachable it waits a loop.
"""

from __future__ import annotations

from typing import Any

import redis
from celery.utils.log import get_logger
from redbeat.schedulers import LUA_EXTEND_TO_SCRIPT, RedBeatScheduler, get_redis

logger = get_logger("celery.beat")


class LeaderScheduler(RedBeatScheduler):
    """RedBeat that steps down or takes over on each loop instead of exiting when its lock is gone."""

    def tick(self, *args: Any, **kwargs: Any) -> float:
        if self.lock_key:
            try:
                if not self._lead():
                    return float(self.max_interval)
            except redis.RedisError as error:
                logger.warning("beat: Redis unreachable (%s); sending nothing this loop", type(error).__name__)
                return float(self.max_interval)
        try:
            return float(super().tick(*args, **kwargs))  # renews the lock, then sends what is due
        except (redis.exceptions.LockError, redis.RedisError) as error:
            logger.warning("beat: lost the lock or Redis (%s); checking again next loop", type(error).__name__)
            return float(self.max_interval)

    def _lead(self) -> bool:
        """True when this beat holds the lock now, taking it if it is free."""
        if self.lock is None:  # the lock could not even be made at start (Redis was down)
            client = get_redis(self.app)
            self.lock = client.lock(self.lock_key, timeout=self.lock_timeout, sleep=self.max_interval)
            self.lock.lua_extend = client.register_script(LUA_EXTEND_TO_SCRIPT)
        if self.lock.owned():
            return True
        if not self.lock.acquire(blocking=False):
            return False
        logger.info("beat: Acquired lock (taking over as leader)")
        self.setup_schedule()  # after a Redis restart the entries are gone; installing keeps existing ones
        return True
