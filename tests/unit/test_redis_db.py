"""Parallel test processes never share a Redis database (they flush theirs between tests)."""

from __future__ import annotations

import pytest

from tests.support.redis_db import this_process_redis_url


def test_one_process_uses_the_configured_database():
    assert this_process_redis_url({"SOCIALCAL_TEST_REDIS_URL": "redis://h:1/6"}) == "redis://h:1/6"
    assert this_process_redis_url({}) == "redis://127.0.0.1:6379/15"
    assert this_process_redis_url({"SOCIALCAL_TEST_REDIS_URL": "redis://h:1/6", "PYTEST_XDIST_WORKER": "gw0"}) == \
        "redis://h:1/6"


def test_each_parallel_process_takes_its_own_database_below_the_configured_one():
    urls = [this_process_redis_url({"SOCIALCAL_TEST_REDIS_URL": "redis://h:1/2", "PYTEST_XDIST_WORKER": f"gw{n}"})
            for n in range(4)]
    assert urls == ["redis://h:1/2", "redis://h:1/1", "redis://h:1/0", "redis://h:1/15"]


def test_a_url_without_a_database_number_is_refused_under_parallel_processes():
    with pytest.raises(ValueError, match="database number"):
        this_process_redis_url({"SOCIALCAL_TEST_REDIS_URL": "redis://h:1", "PYTEST_XDIST_WORKER": "gw1"})
