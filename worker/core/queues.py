"""Queue and task names, said once.

Callers outside socialcal (the approval UI, the agents) and the domain code that enqueues follow-up
work name tasks by these strings, so they are constants here rather than literals scattered through
the code. Routing below is by task-name prefix so a new task lands somewhere sane.
"""

from __future__ import annotations

from enum import StrEnum


class Queue(StrEnum):
    PUBLISH = "publish"
    INSIGHTS = "insights"
    DEFAULT = "default"
    # Outgoing: consumed by the agents outside socialcal, never by our own workers.
    AGENT_POST_WRITER = "agents.post_writer"
    AGENT_REPORT_WRITER = "agents.report_writer"
    AGENT_ANOMALY_DETECTOR = "agents.anomaly_detector"


WORKER_QUEUES = (Queue.PUBLISH, Queue.DEFAULT, Queue.INSIGHTS)
AGENT_QUEUES = (Queue.AGENT_POST_WRITER, Queue.AGENT_REPORT_WRITER, Queue.AGENT_ANOMALY_DETECTOR)

TASK_ROUTES = {
    "publishing.*": {"queue": Queue.PUBLISH.value},
    "insights.*": {"queue": Queue.INSIGHTS.value},
    "analysis.*": {"queue": Queue.INSIGHTS.value},
    "calendar.*": {"queue": Queue.DEFAULT.value},
    "posts.*": {"queue": Queue.DEFAULT.value},
    "approval.*": {"queue": Queue.DEFAULT.value},
    "ops.*": {"queue": Queue.DEFAULT.value},
    # The daily token check: a background read, so it runs at insights priority.
    "integrations.*": {"queue": Queue.INSIGHTS.value},
}

# The message name an outside agent consumes from its queue.
AGENT_MESSAGE_NAMES = {
    Queue.AGENT_POST_WRITER: "agents.post_writer.request",
    Queue.AGENT_REPORT_WRITER: "agents.report_writer.request",
    Queue.AGENT_ANOMALY_DETECTOR: "agents.anomaly_detector.request",
}


class TaskName(StrEnum):
    """Every task socialcal registers (the names are a public contract: DESIGN.md "Task names")."""

    PLAN_MONTH = "calendar.plan_month"
    PLAN_NEXT_MONTH = "calendar.plan_next_month"
    INTAKE = "posts.intake"
    APPROVE = "approval.approve"
    REJECT = "approval.reject"
    PUBLISH_POST = "publishing.publish_post"
    DISPATCH_DUE = "publishing.dispatch_due"
    RESCHEDULE_POST = "publishing.reschedule_post"
    CANCEL_POST = "publishing.cancel_post"
    UPDATE_MESSAGE = "publishing.update_message"
    PULL_PAGE = "insights.pull_page"
    PULL_ALL = "insights.pull_all"
    SYNC_POST_METRICS = "insights.sync_post_metrics"
    DETECT_ANOMALIES = "analysis.detect_anomalies"
    BUILD_REPORT_INPUT = "analysis.build_report_input"
    BUILD_ALL_REPORTS = "analysis.build_all_reports"
    REQUEUE_FAILED = "ops.requeue_failed"
    CHECK_TOKENS = "integrations.check_tokens"


TASK_NAMES = frozenset(name.value for name in TaskName)
