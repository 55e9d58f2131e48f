"""Celery task shells, one module per pipeline stage; the logic they call is ``tasks.domain``."""
