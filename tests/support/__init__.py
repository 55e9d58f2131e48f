"""Helpers the tests share: real services, databases per backend, and real Celery worker processes."""
