"""Fixtures shared by the unit tests that run product code against the sandbox in this process."""

from tests.support.publishing import page  # noqa: F401 - a fixture, found by name
