"""`TemplateWorkflow`: the one generic workflow that runs any compiled template.

Thin on purpose: the run loop, signals, updates and the query. State and services
live in `workflows.engine.runtime`, scheduling in `workflows.engine.scheduler`, step
kinds in `workflows/kinds/` (registered when the `workflows` package is imported).
See docs/interpreter.md for the semantics.

relayflow's workers pass this module through the sandbox (`worker.PASSTHROUGH_MODULES`:
built once per process). Temporal's default sandbox re-imports it for every run, so it
stays cheap to import: no `from __future__ import annotations` (the handler decorators
read each handler's type hints — string annotations cost a `compile` per hint per run)
and one passed-through import.
"""

import asyncio
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ApplicationError

# Passed through the sandbox (not re-imported per run), in ONE import: each import the
# sandbox meets here costs a swap of its import machinery (see workflows.engine.hosted).
# Name modules in full (`import a.b.c as c`), never `from a.b import c`: the sandbox
# passes through only the module names it is asked for.
with workflow.unsafe.imports_passed_through():
    import workflows.engine.hosted as hosted

handlers = hosted.handlers
approval_state = hosted.approval_state
events = hosted.events
failures = hosted.failures
incidents = hosted.incidents
metrics = hosted.metrics
scheduler = hosted.scheduler
sla = hosted.sla
subscriptions = hosted.subscriptions
testmode = hosted.testmode
DEADLINE_EXCEEDED = hosted.DEADLINE_EXCEEDED
Deadline = hosted.Deadline
ControlInput = hosted.ControlInput
DecideInput = hosted.DecideInput
ReassignInput = hosted.ReassignInput
ResolveInput = hosted.ResolveInput
RunInput = hosted.RunInput
RunPending = hosted.RunPending
RunStatus = hosted.RunStatus
StepStatus = hosted.StepStatus
Runtime = hosted.Runtime
ExpressionError = hosted.ExpressionError
render = hosted.render


@workflow.defn(name="TemplateWorkflow")
class TemplateWorkflow:
    @workflow.init
    def __init__(self, inp: RunInput) -> None:
        # built before any signal/update/query handler can run (signal-with-start too)
        self.rt = Runtime(inp)
        sla.install(self.rt)
        approval_state.install(self.rt)
        incidents.install(self.rt)
        if testmode.install(self.rt) is None:  # a template test counts in no series
            metrics.install(self.rt)
            subscriptions.install(self.rt)  # nothing unless the run pinned a matching one

    @workflow.run
    async def run(self, inp: RunInput) -> dict[str, Any]:
        rt = self.rt
        if rt.generation == 0:
            rt.emit(events.RUN_STARTED, actor=inp.started_by)
        for start in rt.on_start:
            start()
        rt.changed()
        top = asyncio.create_task(self._run_top(rt))
        deadline = Deadline(rt).start()
        try:
            await workflow.wait_condition(
                lambda: top.done() or rt.ready_to_continue() or deadline.passed
            )
        except asyncio.CancelledError:
            rt.begin_cancel()
            top.cancel()
            try:
                await top
            except asyncio.CancelledError:
                pass
            except ApplicationError as e:  # the run also failed while cleaning up
                rt.error = rt.error or e.message
            rt.closed_state, rt.closed_at = "cancelled", workflow.now()
            await self._close(rt)
            raise
        if deadline.passed and not top.done():
            await self._expire(rt, top, deadline)
        if not top.done():
            workflow.continue_as_new(inp.model_copy(update={"carry": rt.carry()}))
        await self._close(rt)
        return top.result()

    @staticmethod
    async def _close(rt: Runtime) -> None:
        for hook in rt.before_close:
            await hook()
        await rt.drain()  # let in-flight notifications finish
        rt.changed()
        rt.emit(events.RUN_CLOSED, rt.failing, state=rt.closed_state, error=rt.error)
        for hook in rt.after_close:
            await hook()

    async def _expire(self, rt: Runtime, top: asyncio.Task[Any], deadline: Deadline) -> None:
        """The run deadline passed: cancel what runs (cleanup steps run), then fail."""
        rt.begin_cancel()
        top.cancel()
        try:
            await top
        except (asyncio.CancelledError, ApplicationError):
            pass
        rt.error, rt.closed_state, rt.closed_at = deadline.message, "failed", workflow.now()
        await self._close(rt)
        raise ApplicationError(rt.error, type=DEADLINE_EXCEEDED, non_retryable=True)

    async def _run_top(self, rt: Runtime) -> dict[str, Any]:
        failure = await scheduler.run_dag(rt, rt.top)
        if failure is not None:
            address, message = failures.innermost(rt.statuses, *failure)
            rt.failed_step = address
            rt.error = failures.run_error(address, message)
            rt.closed_state, rt.closed_at = "failed", workflow.now()
            raise ApplicationError(rt.error, address, type="StepFailed", non_retryable=True)
        try:
            outputs = render(rt.plan.template.outputs, rt.scope(rt.top))
        except ExpressionError as e:
            rt.error, rt.closed_state, rt.closed_at = f"outputs: {e}", "failed", workflow.now()
            raise ApplicationError(rt.error, type="OutputsFailed", non_retryable=True) from None
        rt.output, rt.closed_state, rt.closed_at = outputs, "completed", workflow.now()
        return outputs

    # ------------------------------------------------------------------ signals

    @workflow.signal
    def pause(self, by: ControlInput | None = None) -> None:
        """Start nothing new until `resume` (running activities finish); `by` names who asked."""
        self.rt.pause()

    @workflow.signal
    def resume(self, by: ControlInput | None = None) -> None:
        self.rt.resume()

    # ---- approvals: the `decide` signal ignores and records what the `decide` update's
    # ---- validator refuses (nothing written to history).

    @workflow.signal(name="decide")
    def decide_signal(self, d: DecideInput) -> None:
        handlers.decide_signal(self.rt, d)

    @workflow.update(name="decide")
    async def decide(self, d: DecideInput) -> StepStatus:
        return await handlers.decide_update(self.rt, d)

    @decide.validator
    def validate_decide(self, d: DecideInput) -> None:
        handlers.validate_decide(self.rt, d)

    @workflow.update
    async def reassign(self, r: ReassignInput) -> StepStatus:
        return await handlers.reassign_update(self.rt, r)

    @reassign.validator
    def validate_reassign(self, r: ReassignInput) -> None:
        handlers.validate_reassign(self.rt, r)

    # ---- incidents (SPEC §9): resolve a held step (the validator refuses what cannot apply)

    @workflow.update
    async def resolve(self, r: ResolveInput) -> StepStatus:
        return await incidents.resolve_update(self.rt, r)

    @resolve.validator
    def validate_resolve(self, r: ResolveInput) -> None:
        incidents.validate_resolve(self.rt, r)

    # ------------------------------------------------------------------ query

    @workflow.query
    def status(self) -> RunStatus:
        """The run status document (SPEC §5)."""
        return self.rt.status()

    @workflow.query
    def pending(self) -> RunPending:
        """The run's open approval tasks (what `/inbox` reads of each listed run)."""
        return RunPending(
            template=self.rt.plan.name, version=self.rt.plan.version, pending=self.rt.open_tasks()
        )

    @workflow.query
    def test_trace(self) -> list[dict[str, Any]]:
        """What happened in a template test run (SPEC §13); empty for real runs."""
        return testmode.trace(self.rt)
