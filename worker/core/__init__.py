"""The ground floor: settings, logging, redaction, per-process caches and queue/task names.

Nothing here imports anything else of the project, so every other layer (models, graph, the domain,
the task shells, the CLI) can lean on it without a loop.
"""
