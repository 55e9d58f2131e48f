"""The app is configured for at-least-once delivery, as DESIGN.md requires."""

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
