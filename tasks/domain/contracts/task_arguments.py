"""The arguments of every socialcal task: one pydantic model per task name, in one place.

A Celery message carries ``args`` (a list) and ``kwargs`` (an object); ``bind`` maps them onto the
task's model — positional arguments in field order, keywords by name — and validates them, so every
task shell receives checked, typed values (or the message fails at once with plain reasons naming the
field, kept in ``failed_jobs``). Unknown keyword arguments are accepted and ignored (rolling deploys:
an older worker may receive a newer caller's message). The same models are exported as JSON Schema
(``socialcal schemas export``) for callers in any language.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, WithJsonSchema, model_validator
from typing_extensions import Annotated

from tasks.domain.contracts.fields import AwareTime, Index, IsoDate, Month, NonNegative, Text, Uuid
from tasks.domain.contracts.reasons import plain_reasons
from tasks.domain.errors import BadMessage
from tasks.domain.untrusted import json_type
from worker.core.queues import TaskName

VERSION = 1


class TaskArguments(BaseModel):
    """Base of every task's arguments: strict JSON types, unknown keywords ignored, immutable."""

    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)
    task: ClassVar[TaskName]
    version: ClassVar[int] = VERSION

    def call_kwargs(self) -> dict[str, Any]:
        """The validated values, by the task shell's parameter names."""
        return {name: getattr(self, name) for name in type(self).model_fields}


class NoArguments(TaskArguments):
    pass


class PlanMonth(TaskArguments):
    """Plan a month of slots for every active Page of the tenant, and ask the writer for each."""

    task = TaskName.PLAN_MONTH
    tenant_id: Uuid
    month: Month


class PlanNextMonth(NoArguments):
    """Beat: queue next month's plan for every active tenant."""

    task = TaskName.PLAN_NEXT_MONTH


class Intake(TaskArguments):
    """Take in one writer output (see ``schemas/messages/posts.intake.payload.json``).

    The payload may be any JSON value: output that cannot be published is stored as an ``invalid``
    post with its reasons, and output that names no tenant is kept in ``failed_jobs``; neither is
    refused here.
    """

    task = TaskName.INTAKE
    payload: Annotated[Any, WithJsonSchema({"description": "The writer output (posts.intake.payload)."})]


class Approve(TaskArguments):
    """Approve a post as the approver saw it: ``content_hash`` is the hash shown with the content."""

    task = TaskName.APPROVE
    post_id: Uuid
    approver: Text(200, "Who approves (recorded in the audit trail).")
    content_hash: Text(64, "The post's content_hash as shown to the approver.")


class Reject(TaskArguments):
    task = TaskName.REJECT
    post_id: Uuid
    approver: Text(200, "Who rejects.")
    reason: Text(2000, "Why, in words the writer can act on.")


class PublishPost(TaskArguments):
    """Publish one approved post (re-checks the approval gate at run time)."""

    task = TaskName.PUBLISH_POST
    post_id: Uuid


class DispatchDue(NoArguments):
    """Beat, every minute: send approved posts that are due and recover expired leases."""

    task = TaskName.DISPATCH_DUE


class ReschedulePost(TaskArguments):
    task = TaskName.RESCHEDULE_POST
    post_id: Uuid
    scheduled_at: AwareTime


class CancelPost(TaskArguments):
    task = TaskName.CANCEL_POST
    post_id: Uuid


class UpdateMessage(TaskArguments):
    """Propose a new text for a post on the Page; once that exact text is approved, apply it."""

    task = TaskName.UPDATE_MESSAGE
    post_id: Uuid
    message: Text(None, "The new text, exactly as it should appear on the Page.")


class PullPage(TaskArguments):
    task = TaskName.PULL_PAGE
    integration_id: Uuid


class PullAll(TaskArguments):
    """Beat sends it bare (the first wave); each wave re-sends itself with the next wave's position."""

    task = TaskName.PULL_ALL
    cursor: Uuid | None = None
    index: Index = 0
    start: NonNegative | None = None
    per: NonNegative | None = None


class SyncPostMetrics(TaskArguments):
    task = TaskName.SYNC_POST_METRICS
    integration_id: Uuid


class DetectAnomalies(TaskArguments):
    task = TaskName.DETECT_ANOMALIES
    integration_id: Uuid


class BuildReportInput(TaskArguments):
    """Build the report writer's input for a tenant and period (both ends inclusive) and send it."""

    task = TaskName.BUILD_REPORT_INPUT
    tenant_id: Uuid
    period_start: IsoDate
    period_end: IsoDate

    @model_validator(mode="after")
    def _ordered(self) -> "BuildReportInput":
        if self.period_end < self.period_start:  # type: ignore[operator]
            raise ValueError("period_end is before period_start")
        return self


class BuildAllReports(TaskArguments):
    task = TaskName.BUILD_ALL_REPORTS
    period: Literal["week", "month"] = "week"


class RequeueFailed(TaskArguments):
    task = TaskName.REQUEUE_FAILED
    failed_job_id: Uuid


class CheckTokens(NoArguments):
    """Beat, daily: check every active integration's token with one cheap call (debug_token or /me)."""

    task = TaskName.CHECK_TOKENS


TASK_ARGUMENTS: dict[str, type[TaskArguments]] = {
    model.task.value: model for model in (
        PlanMonth, PlanNextMonth, Intake, Approve, Reject, PublishPost, DispatchDue, ReschedulePost, CancelPost,
        UpdateMessage, PullPage, PullAll, SyncPostMetrics, DetectAnomalies, BuildReportInput, BuildAllReports,
        RequeueFailed, CheckTokens,
    )
}


def bind(task_name: str, args: Any, kwargs: Any) -> TaskArguments:
    """The message's arguments checked against the task's contract, or ``BadMessage`` with every reason.

    ``args`` map onto the model's fields in order, ``kwargs`` by name; a keyword starting with ``_``
    is socialcal's own bookkeeping (``_transient_attempts``) and, like any unknown keyword, ignored.
    """
    model = TASK_ARGUMENTS.get(task_name)
    if model is None:
        raise BadMessage(f"{task_name!r} has no argument contract")
    if not isinstance(args, (list, tuple)):
        raise BadMessage(f"arguments must be a list, got {json_type(args)}")
    if not isinstance(kwargs, dict):
        raise BadMessage(f"keyword arguments must be an object, got {json_type(kwargs)}")
    names = list(model.model_fields)
    reasons: list[str] = []
    if len(args) > len(names):
        takes = f"at most {len(names)} positional arguments ({', '.join(names)})" if names else "no arguments"
        reasons.append(f"{task_name} takes {takes}, got {len(args)}")
    values: dict[str, Any] = {}
    for key, value in kwargs.items():
        if isinstance(key, str) and key in model.model_fields:
            values[key] = value
    for name, value in zip(names, args):
        if name in values:
            reasons.append(f"{name} is given twice (by position and by name)")
        values[name] = value
    try:
        bound = model.model_validate(values)
    except ValidationError as error:
        reasons += plain_reasons(error)
        bound = None
    if reasons or bound is None:
        raise BadMessage("; ".join(reasons))
    return bound
