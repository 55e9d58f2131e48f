"""The app is configured for at-least-once delivery, as DESIGN.md requires."""

import os

from worker.app import HARD_TIME_LIMIT_SECONDS, SOFT_TIME_LIMIT_SECONDS, app
from worker.core.queues import Queue


def test_at_least_once_configuration():
    conf = app.conf
    assert conf.task_acks_late is True
    assert conf.task_reject_on_worker_lost is True
    assert conf.worker_prefetch_multiplier == 1
    assert conf.broker_transport_options["visibility_timeout"] >= 3600
    assert conf.result_backend_transport_options["visibility_timeout"] == conf.broker_transport_options["visibility_timeout"]
    assert SOFT_TIME_LIMIT_SECONDS < HARD_TIME_LIMIT_SECONDS < conf.broker_transport_options["visibility_timeout"] / 4
    assert conf.task_serializer == "json" and list(conf.accept_content) == ["json"]
    assert conf.worker_hijack_root_logger is False


def test_queues_and_routes():
    assert {q.value for q in Queue} == {"publish", "insights", "default", "agents.post_writer",
                                        "agents.report_writer", "agents.anomaly_detector"}
    assert app.amqp.router.route({}, "publishing.publish_post")["queue"].name == "publish"
    assert app.amqp.router.route({}, "insights.pull_page")["queue"].name == "insights"
    assert app.amqp.router.route({}, "posts.intake")["queue"].name == "default"


def test_every_beat_entry_names_a_registered_task():
    app.loader.import_default_modules()
    for name, entry in app.conf.beat_schedule.items():
        assert entry["task"] in app.tasks, f"beat entry {name} sends an unknown task {entry['task']}"


def test_beat_plans_next_month_once_a_month_on_the_configured_day():
    from datetime import datetime, timezone

    from freezegun import freeze_time

    entry = app.conf.beat_schedule["plan-next-month"]
    schedule = entry["schedule"]
    schedule.app = app  # crontab reads "now" through the app, which freezegun freezes
    last_run = datetime(2026, 11, 20, 2, 0, tzinfo=timezone.utc)
    with freeze_time("2026-12-20 01:59:00", tz_offset=0):
        assert not schedule.is_due(last_run).is_due
    with freeze_time("2026-12-20 02:00:30", tz_offset=0):
        assert schedule.is_due(last_run).is_due
    with freeze_time("2026-12-21 02:00:30", tz_offset=0):
        assert not schedule.is_due(datetime(2026, 12, 20, 2, 0, tzinfo=timezone.utc)).is_due


def test_beat_state_file_is_outside_the_checkout():
    from pathlib import Path

    checkout = Path(__file__).resolve().parents[2]
    assert checkout not in Path(app.conf.beat_schedule_filename).resolve().parents


def test_task_events_wait_for_flower_unless_switched_on():
    """Workers start without task events (Flower enables them while it runs); the setting turns them on."""
    from worker.app import make_app
    from worker.core.settings import get_settings

    assert app.conf.worker_send_task_events is False
    assert app.conf.task_send_sent_event is True
    previous = os.environ.get("SOCIALCAL_TASK_EVENTS")
    os.environ["SOCIALCAL_TASK_EVENTS"] = "on"
    get_settings.cache_clear()
    try:
        assert make_app().conf.worker_send_task_events is True
    finally:
        if previous is None:
            os.environ.pop("SOCIALCAL_TASK_EVENTS")
        else:
            os.environ["SOCIALCAL_TASK_EVENTS"] = previous
        get_settings.cache_clear()
        app.set_current()  # make_app() made its app the current one too, not only the default
        app.set_default()
