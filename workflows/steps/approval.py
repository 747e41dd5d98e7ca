"""The `approval` step kind, and the `decide` / `reassign` handlers (SPEC §2, §3, §7).

The runner resolves the assignees (activity), opens the task (step state
`waiting`), publishes `Assignees`, notifies (in the background) and waits for the
quorum, the approval `timeout` or an SLA `decide`. It returns the step output
`{decision, decisions, ...}`; the step succeeds with any outcome, except that
`on_timeout: fail` (the default when `timeout` is set without `on_timeout`)
fails it.

Handlers, declared on `TemplateWorkflow` and delegating here:
- update `decide`: `validate_decide` raises `ApplicationError(type=NotAssignee |
  NotAwaitingDecision | AlreadyVoted | OutcomeNotAllowed | InvalidForm)`, so a
  refused decision writes nothing to history; `decide_update` applies it and
  returns the step's `StepStatus` once the decision (if any) is recorded;
- signal `decide`: the same checks, but a refused decision is ignored and
  recorded (`rejected_decisions` in the step output, or the run-level list when
  no task is open at that step); a signal never carries admin rights;
- update `reassign`: new assignees (re-resolved), the count starts again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from temporalio import workflow
from temporalio.exceptions import ApplicationError

from workflows.approvals import NOT_AWAITING, ApprovalTask
from workflows.approvals_state import (
    ApprovalState,
    detail,
    notify,
    reassign,
    resolve,
    state_of,
)
from workflows.durations import parse_duration
from workflows.io import DecideInput, ReassignInput, StepStatus
from workflows.model import Assignees
from workflows.sla import start_run_sla, step_sla, stop_run_sla
from workflows.steps.base import StepFailure

if TYPE_CHECKING:
    from workflows.runtime import Runtime
    from workflows.steps.base import StepContext

INVALID_REASSIGN = "InvalidReassign"
EXPIRED = "Expired"


async def run(ctx: StepContext) -> dict[str, Any]:
    spec = ctx.step.approval
    assert spec is not None
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
        )
        notify(state, task, "opened")
    ctx.set_detail(detail(task))
    ctx.rt.set_state(ctx.address, "waiting", output=task.output())
    state.publish()
    try:
        await _await_decision(task, spec.timeout, spec.on_timeout)
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
    notify(state, task, "decided", task.votes[-1].actor if task.votes else task.decided_by)
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
        outcome = on_timeout or "fail"
        if outcome == "fail":
            task.decided_by = "timeout"  # decision stays None: the step fails
        else:
            task.close(outcome, "timeout", workflow.now())


# -- handlers (delegated to by TemplateWorkflow) -----------------------------------------


def check_expiry(r: DecideInput | ReassignInput) -> None:
    """Refuse an update the API already gave up on (it answered 504): nothing applies late.

    Validators do not run on replay, so reading the workflow clock here is safe."""
    if r.expires_at is not None and workflow.now() > r.expires_at:
        raise ApplicationError(
            "the request reached the run after its deadline and was not applied",
            type=EXPIRED,
            non_retryable=True,
        )


def validate_decide(rt: Runtime, d: DecideInput) -> None:
    check_expiry(d)
    state = state_of(rt)
    state.book.waiting(d.step).check(d)


async def decide_update(rt: Runtime, d: DecideInput) -> StepStatus:
    state = state_of(rt)
    task = state.book.waiting(d.step)
    task.check(d)
    _apply(rt, task, d)
    if task.decision is not None:
        # the runner records the step's end in this same activation
        await workflow.wait_condition(lambda: rt.statuses[d.step].state != "waiting")
    return rt.statuses[d.step].model_copy(deep=True)


def decide_signal(rt: Runtime, d: DecideInput) -> None:
    state = state_of(rt)
    d = d.model_copy(update={"as_admin": False})  # admins decide through the API
    try:
        task = state.book.waiting(d.step)
    except ApplicationError as err:
        state.ignore_orphan(d, err)
        return
    try:
        task.check(d)
    except ApplicationError as err:
        task.ignore(d, err, workflow.now())
        rt.statuses[d.step].output = task.output()
        workflow.logger.warning("ignored decide signal on %s: %s", d.step, err.message)
        return
    _apply(rt, task, d)


def _apply(rt: Runtime, task: ApprovalTask, d: DecideInput) -> None:
    task.vote(d, workflow.now())
    rt.statuses[task.step].output = task.output()


def validate_reassign(rt: Runtime, r: ReassignInput) -> None:
    check_expiry(r)
    state = state_of(rt)
    state.book.waiting(r.step)
    if not r.users and not r.roles:
        raise ApplicationError(
            "reassign needs at least one user or role", type=INVALID_REASSIGN, non_retryable=True
        )


async def reassign_update(rt: Runtime, r: ReassignInput) -> StepStatus:
    validate_reassign(rt, r)
    state = state_of(rt)
    task = state.book.waiting(r.step)
    to = Assignees(users=r.users, roles=r.roles)
    if not await reassign(state, task, to, r.actor, "request"):
        raise ApplicationError(
            f"step {r.step!r} was decided while reassigning", type=NOT_AWAITING, non_retryable=True
        )
    return rt.statuses[r.step].model_copy(deep=True)


# -- plug-in installation (RUNTIME_PLUGINS) ---------------------------------------------


def install(rt: Runtime) -> None:
    """Attach the approval state and hooks to a new Runtime (restored after continue-as-new)."""
    state = ApprovalState.restore(rt.ext.get("approvals"))
    state.rt = rt
    rt.approvals = state  # type: ignore[attr-defined]
    rt.before_carry.append(lambda: rt.ext.__setitem__("approvals", state.snapshot()))
    rt.idle_checks.append(state.idle)
    rt.pending_sources.append(state.pending)
    rt.step_wrappers.append(step_sla)
    rt.on_start.append(lambda: start_run_sla(rt))

    async def finish() -> None:
        stop_run_sla(state)  # run-level timers end with the run
        await state.drain()  # let in-flight notifications finish

    rt.before_close.append(finish)
