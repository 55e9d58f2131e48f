"""Which Redis database this test process uses (imports nothing of the project: the root conftest
reads it before anything else is imported).

``SOCIALCAL_TEST_REDIS_URL`` (default db 15) is the first process's. ``./dev test`` runs the suite in
several pytest-xdist processes, and each of them flushes its broker database between tests, so
process ``gwN`` takes the database N below that one (wrapping at 0 to 15): two processes never share
a broker, a budget key or a flush.
"""

from __future__ import annotations

import os

DEFAULT_TEST_REDIS_URL = "redis://127.0.0.1:6379/15"
REDIS_DATABASES = 16  # redis.conf's default `databases`


def this_process_redis_url(environ: dict[str, str] | None = None) -> str:
    environ = dict(os.environ if environ is None else environ)
    base = environ.get("SOCIALCAL_TEST_REDIS_URL", DEFAULT_TEST_REDIS_URL)
    worker = environ.get("PYTEST_XDIST_WORKER", "")  # gw0, gw1, ... under xdist; unset otherwise
    if not worker.startswith("gw") or not worker[2:].isdigit() or worker == "gw0":
        return base
    prefix, _, database = base.rpartition("/")
    if not database.isdigit():
        raise ValueError(f"SOCIALCAL_TEST_REDIS_URL must end in a database number: {base!r}")
    return f"{prefix}/{(int(database) - int(worker[2:])) % REDIS_DATABASES}"
