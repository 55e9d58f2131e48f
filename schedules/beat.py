"""What Celery beat runs, and when.

Beat only sends wake-ups: every task it triggers reads the database for what is due, so a missed tick
or a duplicate costs nothing but a delay or a wake-up. Several beats may run: only the one holding
the lock schedules (``schedules.leader``).
"""

from __future__ import annotations

from typing import Any

from celery.schedules import crontab

from worker.core.settings import Settings


def beat_schedule(settings: Settings) -> dict[str, dict[str, Any]]:
    return {
        "dispatch-due-every-minute": {
            "task": "publishing.dispatch_due",
            "schedule": settings.dispatch_every_seconds,
            "options": {"expires": max(1.0, settings.dispatch_every_seconds - 5)},
        },
        "pull-insights-daily": {
            "task": "insights.pull_all",
            "schedule": crontab(minute=15, hour=3),
            "options": {"expires": 3600},
        },
        "check-tokens-daily": {
            "task": "integrations.check_tokens",
            "schedule": crontab(minute=45, hour=2),
            "options": {"expires": 3600},
        },
        "plan-next-month": {
            "task": "calendar.plan_next_month",
            "schedule": crontab(minute=0, hour=2, day_of_month=str(settings.plan_next_month_day)),
            "options": {"expires": 3600},
        },
        "weekly-report-inputs": {
            "task": "analysis.build_all_reports",
            "schedule": crontab(minute=0, hour=6, day_of_week="mon"),
            "kwargs": {"period": "week"},
            "options": {"expires": 3600},
        },
        "monthly-report-inputs": {
            "task": "analysis.build_all_reports",
            "schedule": crontab(minute=30, hour=6, day_of_month="1"),
            "kwargs": {"period": "month"},
            "options": {"expires": 3600},
        },
    }
