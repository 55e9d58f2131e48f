"""The contracts as JSON Schema files (``schemas/`` in the repo, ``socialcal schemas export``).

Generated from the pydantic models, never written by hand: ``tests/unit/test_contracts.py`` fails
when the files in the repo differ from what the code generates. Each document has a versioned
``$id`` (``urn:socialcal:<kind>:<name>:v<version>``) and an ``x-socialcal`` block saying where the
message goes: the Celery task name and queue, and for a task the order of its positional arguments.
"""

from __future__ import annotations

import json
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

from tasks.domain.contracts.messages import AGENT_MESSAGES, WriterOutput
from tasks.domain.contracts.task_arguments import TASK_ARGUMENTS, TaskArguments
from worker.core.queues import TASK_ROUTES, Queue

DRAFT = "https://json-schema.org/draft/2020-12/schema"
KINDS = ("tasks", "messages")


def schema_id(kind: str, name: str, version: int) -> str:
    return f"urn:socialcal:{kind}:{name}:v{version}"


def task_queue(task_name: str) -> str:
    for pattern, route in TASK_ROUTES.items():
        if fnmatch(task_name, pattern):
            return route["queue"]
    return Queue.DEFAULT.value


def _document(kind: str, name: str, version: int, schema: dict[str, Any], about: dict[str, Any]) -> dict[str, Any]:
    return {"$schema": DRAFT, "$id": schema_id(kind, name, version), "title": name, **schema,
            "x-socialcal": {"schema_version": version, **about}}


def _task_document(model: type[TaskArguments]) -> dict[str, Any]:
    schema = model.model_json_schema()
    schema.pop("title", None)
    schema["description"] = (
        (schema.get("description", "").strip() + "\n\n" if schema.get("description") else "")
        + "Send as a Celery protocol 2 message: positional `args` in the order of x-socialcal.positional_order, "
          "or `kwargs` by name (this schema describes the kwargs object). Unknown keyword arguments are ignored."
    )
    about = {"task": model.task.value, "queue": task_queue(model.task.value),
             "positional_order": list(model.model_fields)}
    return _document("tasks", model.task.value, model.version, schema, about)


def _message_document(model: Any, about: dict[str, Any]) -> dict[str, Any]:
    schema = model.model_json_schema()
    schema.pop("title", None)
    return _document("messages", model.name, model.version, schema, about)


def schema_documents() -> dict[str, dict[str, Any]]:
    """Every schema file, by its path under ``schemas/``."""
    documents: dict[str, dict[str, Any]] = {}
    for name, model in sorted(TASK_ARGUMENTS.items()):
        documents[f"tasks/{name}.json"] = _task_document(model)
    for queue, model in AGENT_MESSAGES.items():
        documents[f"messages/{model.name}.json"] = _message_document(model, {
            "direction": "socialcal -> agent", "queue": queue.value, "task": model.name,
            "how": "a Celery protocol 2 message whose only positional argument is this object"})
    documents[f"messages/{WriterOutput.name}.json"] = _message_document(WriterOutput, {
        "direction": "writer agent -> socialcal", "task": "posts.intake", "queue": task_queue("posts.intake"),
        "how": "the `payload` argument of posts.intake, or one item of `socialcal intake FILE`"})
    # The intake task refers to its payload by the payload schema's $id.
    intake = documents["tasks/posts.intake.json"]["properties"]["payload"]
    intake["$ref"] = schema_id("messages", WriterOutput.name, WriterOutput.version)
    return documents


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def stale_files(directory: Path) -> list[Path]:
    """Files under ``directory``'s tasks/ and messages/ that the code no longer generates."""
    wanted = {directory / path for path in schema_documents()}
    return sorted(p for kind in KINDS for p in (directory / kind).glob("*.json") if p not in wanted)


def export(directory: Path) -> list[Path]:
    """Write every schema file under ``directory`` (and remove stale ones); returns the files written."""
    written = []
    for path, document in schema_documents().items():
        target = directory / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(render(document), encoding="utf-8")
        written.append(target)
    for stale in stale_files(directory):
        stale.unlink()
    return written


def differences(directory: Path) -> list[str]:
    """What differs between ``directory`` and the code: missing, changed and stale files."""
    problems = []
    for path, document in schema_documents().items():
        target = directory / path
        if not target.exists():
            problems.append(f"{path}: missing")
        elif target.read_text(encoding="utf-8") != render(document):
            problems.append(f"{path}: differs from the code")
    problems += [f"{p.relative_to(directory)}: no longer generated" for p in stale_files(directory)]
    return problems
