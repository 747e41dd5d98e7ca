"""Everything `workflows.engine.workflow` uses, gathered so the sandbox passes it through
with one import.

The sandbox re-imports the workflow module for every run, and each import statement
it meets under `imports_passed_through` costs a swap of the sandbox's import machinery
(`Importer._unapplied`): twenty of them were ~15 % of a one-step run's workflow CPU.
Imported on the host (never inside the sandbox), like every engine module.
"""

import workflows.engine.approvals.handlers as handlers
import workflows.engine.approvals.state as approval_state
import workflows.engine.events as events
import workflows.engine.failures as failures
import workflows.engine.incidents as incidents
import workflows.engine.metrics as metrics
import workflows.engine.scheduler as scheduler
import workflows.engine.sla as sla
import workflows.engine.subscriptions as subscriptions
import workflows.engine.testmode as testmode
from workflows.engine.deadline import ERROR_TYPE as DEADLINE_EXCEEDED
from workflows.engine.deadline import Deadline
from workflows.engine.io import (
    ControlInput,
    DecideInput,
    ReassignInput,
    ResolveInput,
    RunInput,
    RunPending,
    RunStatus,
    StepStatus,
)
from workflows.engine.runtime import Runtime
from workflows.language.expressions import ExpressionError, render

__all__ = [
    "DEADLINE_EXCEEDED",
    "ControlInput",
    "Deadline",
    "DecideInput",
    "ExpressionError",
    "ReassignInput",
    "ResolveInput",
    "RunInput",
    "RunPending",
    "RunStatus",
    "Runtime",
    "StepStatus",
    "approval_state",
    "events",
    "failures",
    "handlers",
    "incidents",
    "metrics",
    "render",
    "scheduler",
    "sla",
    "subscriptions",
    "testmode",
]
