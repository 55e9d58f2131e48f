"""Queue names, said once. Routing below is by task-name prefix so a new task lands somewhere sane."""

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
}

# The message name an outside agent consumes from its queue.
AGENT_MESSAGE_NAMES = {
    Queue.AGENT_POST_WRITER: "agents.post_writer.request",
    Queue.AGENT_REPORT_WRITER: "agents.report_writer.request",
    Queue.AGENT_ANOMALY_DETECTOR: "agents.anomaly_detector.request",
}
