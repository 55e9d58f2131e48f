# socialcal: one image for every role (worker, beat, migrate, sandbox, operator CLI).
#   docker build -t socialcal .
#   docker run --rm --env-file .env socialcal worker -Q publish,default
# No configuration or secret is baked in: everything comes from SOCIALCAL_* at run time (.env.example).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# A fixed, unprivileged uid/gid (numeric USER below, so orchestrators can verify "not root").
RUN groupadd --system --gid 10001 socialcal \
 && useradd --system --uid 10001 --gid socialcal --create-home --home-dir /home/socialcal \
            --shell /usr/sbin/nologin socialcal

WORKDIR /src

# Layer 1, dependencies only: read [project].dependencies from pyproject.toml (no test extras), so
# this layer is rebuilt when the dependency list changes, not on every source edit.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
 && pip install -r /tmp/requirements.txt \
 && rm /tmp/requirements.txt

# Layer 2, the project itself: a regular (non-editable) install of exactly the packages that
# pyproject.toml lists, migrations included as package data. README.md* is optional (metadata only).
COPY pyproject.toml README.md* ./
COPY worker ./worker
COPY tasks ./tasks
COPY models ./models
COPY schedules ./schedules
COPY graph ./graph
RUN pip install --no-deps . \
 && pip check \
 && rm -rf build ./*.egg-info

# Run from the user's home: writable (celerybeat schedule, the SQLite default) and free of the
# source tree, so the installed packages are the ones imported.
WORKDIR /home/socialcal
USER 10001:10001

# The sandbox Graph server's port (`socialcal sandbox --host 0.0.0.0 --port 8765`).
EXPOSE 8765

# SIGTERM is a warm shutdown for Celery: running tasks finish, unstarted ones go back to the broker.
ENTRYPOINT ["socialcal"]
CMD ["worker"]
