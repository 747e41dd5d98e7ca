"""The waiting side of an approval step: open the task, wait for the quorum, close it.

`run` resolves the assignees (activity), opens the task (step state `waiting`),
publishes `Assignees`, notifies (in the background) and waits for the quorum, the
approval `timeout` or an SLA `decide`. It returns the step output `{decision,
decisions, ...}`; the step succeeds with any outcome, except that `on_timeout:
fail` (the default when `timeout` is set without `on_timeout`) fails it. After a
continue-as-new the open task is found in the book and the wait resumes.
"""

from __future__ import annotations

from typing import Any, Literal, Protocol

from temporalio import workflow

from workflows.engine import events, testmode
from workflows.engine.approvals import scripted
from workflows.engine.approvals.state import (
    ApprovalState,
    detail,
    notify,
    resolve,
    state_of,
)
from workflows.engine.approvals.task import ApprovalTask
from workflows.engine.context import StepContext, StepFailure
from workflows.language.durations import parse_duration
from workflows.language.model import Assignees


class ApprovalSpec(Protocol):
    """What the step needs of an `approval:` block (workflows/kinds/approval.py)."""

    assignees: Assignees
    quorum: int | Literal["all"]
    outcomes: list[str]
    form: dict[str, Any] | None
    timeout: str | None
    on_timeout: str | None
    self_approval: bool


async def run(ctx: StepContext, spec: ApprovalSpec) -> dict[str, Any]:
    state = state_of(ctx.rt)
    task = state.book.get(ctx.address)
    if task is None or task.decision is not None:  # a fresh task (else resumed after CAN)
        resolved = await resolve(state, ctx.address, spec.assignees)
        now = workflow.now()
        due = now + parse_duration(spec.timeout) if spec.timeout else None
        task = state.book.open(
            ctx.address,
            outcomes=spec.outcomes,
            quorum=spec.quorum,
            form=spec.form,
            resolved=resolved,
            now=now,
            due_at=due,
            starter_barred=None if spec.self_approval else ctx.rt.inp.started_by,
        )
        notify(state, task, "opened")
        ctx.rt.emit(
            events.APPROVAL_OPENED,
            ctx.address,
            assignees=task.keys(),
            outcomes=list(task.outcomes),
            due_at=due.isoformat() if due else None,
        )
    ctx.set_detail(detail(task))
    ctx.rt.set_state(ctx.address, "waiting", output=task.output())
    state.publish()
    try:
        test = testmode.of(ctx.rt)
        if test is None:
            await _await_decision(task, spec.timeout, spec.on_timeout)
        else:  # a template test: the script decides, or time jumps (SLA levels, timeout)
            await scripted.settle(ctx, test, task, spec.timeout, spec.on_timeout)
    except GeneratorExit:  # evicted from the worker cache: not an end of the step
        raise
    except BaseException:  # cancelled: the task closes with the step
        _close(state, ctx.address)
        raise
    _close(state, ctx.address)
    ctx.status.output = task.output()
    if task.decision is None:  # timed out with `on_timeout: fail`
        raise StepFailure(f"approval timed out after {spec.timeout} without a decision")
    ctx.status.decision = task.decision
    actor = task.votes[-1].actor if task.votes else task.decided_by
    decided = task.decided_at or workflow.now()
    seconds = max((decided - task.opened_at).total_seconds(), 0.0)
    ctx.rt.emit(
        events.APPROVAL_DECIDED, ctx.address, actor, outcome=task.decision, seconds=seconds
    )
    notify(state, task, "decided", actor)
    return task.output()


def _close(state: ApprovalState, address: str) -> None:
    state.book.remove(address)
    state.publish()


async def _await_decision(task: ApprovalTask, timeout: str | None, on_timeout: str | None) -> None:
    if task.due_at is None:
        await workflow.wait_condition(lambda: task.decision is not None)
        return
    left = task.due_at - workflow.now()
    try:
        if left.total_seconds() <= 0:
            raise TimeoutError
        await workflow.wait_condition(
            lambda: task.decision is not None,
            timeout=left,
            timeout_summary=f"{task.step}: approval timeout ({timeout})",
        )
    except TimeoutError:
        if task.decision is not None:
            return
        task.time_out(on_timeout, workflow.now())  # `fail`: decision stays None, step fails
