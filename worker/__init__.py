"""The roof and the ground: the Celery app, the ``socialcal`` CLI and demo, and ``worker.core`` (settings, logging, redaction, names) that everything else stands on."""
