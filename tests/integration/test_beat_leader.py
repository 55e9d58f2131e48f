"""Beat is not a single point of failure: two real ``celery beat`` processes against a real Redis.

Only the leader (the holder of the Redis lock) sends anything; SIGKILLed, the standby takes over
within a minute (the lock's 30 s plus one loop); and when Redis itself restarts (lock and schedule
gone) the beat stays up, takes the lock again and goes on sending. The Redis is the test's own, so
it can be restarted; dispatch_due is sent every 2 s here instead of every minute.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import redis

from tests.support.stack import ROOT
from tests.support.waits import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.faults]

SENT = "Sending due task dispatch-due-every-minute"
ACQUIRED = "beat: Acquired lock"


class BeatProcess:
    def __init__(self, name: str, broker_url: str, log_dir: Path) -> None:
        self.log_path = log_dir / f"{name}.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("SOCIALCAL_")}
        env.update({"SOCIALCAL_BROKER_URL": broker_url, "SOCIALCAL_DISPATCH_EVERY_SECONDS": "2",
                    "SOCIALCAL_LOG_FORMAT": "console",
                    "SOCIALCAL_BEAT_SCHEDULE_FILE": str(log_dir / f"{name}-schedule")})
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "celery", "-A", "worker.app:app", "beat",
                                      "--loglevel", "INFO"], cwd=ROOT, env=env, stdout=self._log,
                                     stderr=subprocess.STDOUT, start_new_session=True)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def sent(self) -> int:
        return self.log().count(SENT)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        if self.alive():
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        self._log.close()


def test_two_beats_one_schedules_and_the_standby_takes_over(own_redis, tmp_path):
    queue = redis.Redis(port=own_redis.port)
    first = BeatProcess("beat-a", own_redis.url(), tmp_path)
    second = None
    try:
        wait_for(lambda: ACQUIRED in first.log(), 30, what="the first beat leads")
        second = BeatProcess("beat-b", own_redis.url(), tmp_path)
        wait_for(lambda: "beat: Starting" in second.log(), 30, what="the second beat started")
        wait_for(lambda: first.sent() >= 4, 30, what="the leader sending dispatch_due")
        assert second.sent() == 0 and ACQUIRED not in second.log(), "the standby schedules nothing"
        assert queue.llen("publish") == first.sent()  # exactly the leader's messages, no others

        first.kill()
        wait_for(lambda: ACQUIRED in second.log(), 60, what="the standby taking over within a minute")
        wait_for(lambda: second.sent() >= 2, 15, what="the new leader sending dispatch_due")

        # Redis restarted: lock and schedule gone. The beat stays up, leads again and keeps sending.
        own_redis.restart(down_for=2.0)
        sent_before = second.sent()
        wait_for(lambda: second.sent() >= sent_before + 2, 60, what="sending again after a Redis restart")
        # A send logged while Redis was still coming back may not have reached it: wait for two
        # messages on the restarted Redis itself.
        wait_for(lambda: queue.llen("publish") >= 2, 60, what="dispatch_due messages on the restarted Redis")
        assert second.alive(), second.log()[-3000:]
    finally:
        first.kill()
        if second is not None:
            second.kill()
