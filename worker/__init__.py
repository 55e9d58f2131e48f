"""The Celery app, settings, logging and the `socialcal` command."""
