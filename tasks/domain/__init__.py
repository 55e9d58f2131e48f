"""The plain logic of every pipeline stage: no Celery app, no task objects.

Task shells (``tasks/<stage>.py``), the CLI and the demo call these functions; tests call them
directly. Follow-up work is registered with ``tasks.domain.messaging.enqueue`` (sent after commit by
whichever Celery app is current), and failures are this package's or ``graph.errors``' own classes,
which the shells map to retry or fail.
"""
