"""The `decide` and `reassign` handlers of `TemplateWorkflow` (SPEC §3, §7).

- update `decide`: `validate_decide` raises an `ApprovalError` (`NotAssignee`,
  `NotAwaitingDecision`, `AlreadyVoted`, `OutcomeNotAllowed`, `InvalidForm`), so a
  refused decision writes nothing to history; `decide_update` applies it and returns
  the step's `StepStatus` once the decision (if any) is recorded;
- signal `decide`: the same checks, but a refused decision is ignored and recorded
  (`rejected_decisions` in the step output, or the run-level list when no task is
  open at that step); a signal never carries admin rights;
- update `reassign`: new assignees (re-resolved), the count starts again; without
  `as_operator` only the caller's own seat, to one user (`handover`).
"""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ApplicationError

from workflows.engine.approvals import handover
from workflows.engine.approvals.errors import ApprovalError, refuse
from workflows.engine.approvals.state import reassign, state_of
from workflows.engine.approvals.task import ApprovalTask
from workflows.engine.io import DecideInput, ReassignInput, StepStatus
from workflows.engine.runtime import Runtime
from workflows.language.model import Assignees


def check_expiry(r: DecideInput | ReassignInput) -> None:
    """Refuse an update the API already gave up on (it answered 504): nothing applies late.

    Validators do not run on replay, so reading the workflow clock here is safe."""
    if r.expires_at is not None and workflow.now() > r.expires_at:
        refuse(
            ApprovalError.EXPIRED,
            "the request reached the run after its deadline and was not applied",
        )


def validate_decide(rt: Runtime, d: DecideInput) -> None:
    check_expiry(d)
    state_of(rt).book.waiting(d.step).check(d)


async def decide_update(rt: Runtime, d: DecideInput) -> StepStatus:
    task = state_of(rt).book.waiting(d.step)
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
    task = state_of(rt).book.waiting(r.step)
    if not r.users and not r.roles:
        refuse(ApprovalError.INVALID_REASSIGN, "reassign needs at least one user or role")
    if not r.as_operator:
        handover.check(task, r)


async def reassign_update(rt: Runtime, r: ReassignInput) -> StepStatus:
    validate_reassign(rt, r)
    state = state_of(rt)
    task = state.book.waiting(r.step)
    if r.as_operator:
        to = Assignees(users=r.users, roles=r.roles)
        done = await reassign(state, task, to, r.actor, "request")
    else:
        done = await handover.hand_over(state, task, r)
    if not done:
        refuse(ApprovalError.NOT_AWAITING, f"step {r.step!r} was decided while reassigning")
    return rt.statuses[r.step].model_copy(deep=True)
