"""socialcal's message contracts, in one place: every task's arguments and every agent message.

pydantic v2 models (``task_arguments``, ``messages``) give both the validation of what arrives and
the JSON Schema files in ``schemas/`` from one definition (``export``), so the two cannot drift.
"""

from tasks.domain.contracts.task_arguments import TASK_ARGUMENTS, TaskArguments, bind

__all__ = ["TASK_ARGUMENTS", "TaskArguments", "bind"]
