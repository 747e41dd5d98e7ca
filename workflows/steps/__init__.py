"""Step kinds: `STEP_RUNNERS` maps a kind (`Step.kind`) to its runner.

Plug-in API (how the approvals module adds `approval`)
------------------------------------------------------
A runner is ``async def run(ctx: StepContext) -> Any`` (see `steps.base`): return the
step's output, or raise `StepFailure(message)`; an `ExpressionError` or Temporal
`FailureError` escaping is recorded as the step's error too. Register it with
``STEP_RUNNERS["approval"] = run``. The scheduler has already set the step
`running`, checked pause, `run_if` and `when`; it marks `succeeded`/`failed`/
`cancelled` afterwards. What a runner may use:

- ``ctx.rt.set_state(ctx.address, "waiting", **fields)`` — e.g. while on people;
  ``ctx.status`` is the step's `StepStatus` (set ``decision``, ``sla_level``, …).
- ``ctx.scope()`` — the expression scope (``rt.scope(frame)``; build extra names
  such as ``task`` with ``workflows.scope.build(rt, frame, task=...)``).
- ``ctx.rt.pending[address] = PendingTask(...)`` (and ``del`` when done) — the status
  document's `pending`; then call ``ctx.rt.changed()`` to recompute RunState
  (waiting when an approval is open and no step runs) and the Web UI details.
- ``ctx.rt.on_change`` — callbacks run on every change (e.g. upsert `Assignees`
  only when it changed).
- ``ctx.rt.wait_unpaused()`` / ``ctx.rt.paused`` — decisions are accepted while
  paused; downstream steps wait anyway (the scheduler checks pause before each step).
- ``with ctx.rt.in_flight(): await workflow.execute_activity(...)`` — wrap every
  activity/child call so continue-as-new waits for it (quiescent point).
- Continue-as-new: ``ctx.save_progress({...})`` stores JSON-able progress for this
  step; after continue-as-new the runner is called again with ``ctx.progress`` set
  (``ctx.resuming`` is True, the step's status kept). Run-wide plug-in state goes in
  ``ctx.rt.ext[<your key>]`` (carried verbatim); ``ctx.rt.before_carry`` callbacks
  run just before the carry is built. ``ctx.rt.pending`` is NOT carried: rebuild it
  when the runner resumes. ``ctx.rt.sla_level`` (run-level) is carried.
- Hooks on the Runtime, attached by an ``install(rt)`` function listed in
  ``RUNTIME_PLUGINS`` (called from ``@workflow.init``, before any handler):
  ``rt.on_start`` (sync callbacks at the start of ``run``, also after
  continue-as-new: start background tasks there), ``rt.idle_checks`` (all true →
  continue-as-new may happen), ``rt.before_close`` (async, awaited before the run
  returns, fails or ends cancelled), ``rt.pending_sources`` (callables returning
  ``list[PendingTask]`` for the status document and RunState=waiting),
  ``rt.step_wrappers`` (``ctx -> async context manager`` entered around every
  runner call, e.g. step SLA timers).
- Signals/updates: `TemplateWorkflow.rt` is the Runtime; handlers find the step by
  address in ``rt.statuses`` and their own state in ``rt.ext``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from workflows.steps import action, approval, fail, foreach, gate, loop, subflow, wait
from workflows.steps import set as set_step
from workflows.steps.base import StepContext, StepFailure

if TYPE_CHECKING:
    from workflows.runtime import Runtime

Runner = Callable[[StepContext], Awaitable[Any]]


STEP_RUNNERS: dict[str, Runner] = {
    "action": action.run,
    "approval": approval.run,
    "gate": gate.run,
    "wait": wait.run,
    "set": set_step.run,
    "foreach": foreach.run,
    "loop": loop.run,
    "subflow": subflow.run,
    "fail": fail.run,
}

# `install(rt)` functions called when a Runtime is built (in @workflow.init, before any
# handler runs): plug-ins attach their state and hooks to the runtime there.
RUNTIME_PLUGINS: list[Callable[[Runtime], None]] = [approval.install]

__all__ = ["RUNTIME_PLUGINS", "STEP_RUNNERS", "Runner", "StepContext", "StepFailure"]
