"""An assignee hands over their own seat (SPEC §11 "Reassignment"), inside the workflow.

Reassignment by an `operator`/`admin` (`ReassignInput.as_operator`, set by the API)
or by an SLA level replaces the assignees wholesale (`state.reassign`).
Anyone else is an assignee asking to be replaced, and may only:
- name exactly one user (no roles), who takes the caller's place — the caller stops
  being an assignee;
- hand over a seat they hold (as its owner or its delegate);
- to someone who is not already an assignee, nor the run's starter when the step has
  `self_approval: false`;
- never leaving fewer deciders than the quorum needs: this holds by construction, as
  every seat the caller held goes to one newcomer who decided nothing before (one
  decider out, one in).

`check` runs in the `reassign` update's validator, so a refused handover writes
nothing to history (and never counts as a vote). The target's own delegation is
resolved by the `resolve_assignees` activity; if it lands on an assignee (or the
starter), the update fails with the same error types.
"""

from __future__ import annotations

from temporalio import workflow

from workflows.engine.approvals.errors import ApprovalError, refuse
from workflows.engine.approvals.state import ApprovalState, detail, notify, resolve
from workflows.engine.approvals.task import ApprovalTask
from workflows.engine.io import ReassignInput
from workflows.language.model import Assignees


def check(task: ApprovalTask, r: ReassignInput) -> None:
    """Raise the `ApplicationError` refusing the handover `r` of `task`, if any."""
    if r.roles or len(r.users) != 1:
        refuse(
            ApprovalError.NOT_ALLOWED,
            "an assignee may only hand over their own seat to one user: send "
            "{users: [<user>]}; wider reassignment needs role operator or admin",
        )
    if r.actor not in task.users:
        refuse(ApprovalError.NOT_ASSIGNEE, f"{r.actor!r} is not an assignee of step {task.step!r}")
    target(task, r.users[0])


def target(task: ApprovalTask, user: str) -> None:
    """Refuse `user` as the new holder of a seat of `task`."""
    if user in task.users or user in task.seat_list():
        refuse(
            ApprovalError.ALREADY_ASSIGNEE, f"{user!r} is already an assignee of step {task.step!r}"
        )
    if task.starter_barred is not None and user == task.starter_barred:
        refuse(
            ApprovalError.SELF_APPROVAL,
            f"{user!r} started this run and step {task.step!r} does not allow self-approval",
        )


async def hand_over(state: ApprovalState, task: ApprovalTask, r: ReassignInput) -> bool:
    """Resolve the new user (their delegation applies) and move the caller's seat(s).

    False when the task was decided while resolving."""
    resolved = await resolve(state, task.step, Assignees(users=list(r.users)))
    if task.decision is not None or state.book.get(task.step) is not task:
        return False
    check(task, r)  # the task may have changed while resolving
    user = r.users[0]
    target(task, resolved.delegated.get(user, user))
    task.hand_over(r.actor, resolved, workflow.now())
    if task.step in state.rt.statuses:
        state.rt.statuses[task.step].output = task.output()
    state.rt.set_detail(task.step, detail(task))
    state.publish()
    notify(state, task, "reassigned", r.actor)
    return True
