"""Approvals in a template test (SPEC §13; `workflows.engine.testmode`): scripted decisions.

The task opens as in a real run (assignees resolved, `pending`, events); then, instead
of waiting for people, the step takes the next scripted decision for its address. It
must be one of the step's outcomes, its `data` must match the `form`, and its actor
must not be the starter of a `self_approval: false` step — what the API would refuse
fails the step here. One scripted decision settles the step whatever the quorum (the
script decides outcomes, not single votes); it is recorded as a decision by its actor
(`test` unless the case names one).

Nobody decides (no script for the step, its list ran out, or a `null` round): time
jumps — the step's SLA levels fire in `after` order (reassign, decide; notifications
are recorded, not sent), then the approval `timeout` applies with `on_timeout`; an
approval without a timeout fails the step (a real run would wait forever).
"""

from __future__ import annotations

from temporalio import workflow

from workflows.engine import sla
from workflows.engine.approvals.records import Vote, form_errors
from workflows.engine.approvals.task import ApprovalTask
from workflows.engine.context import StepContext, StepFailure
from workflows.engine.testmode import TestRun
from workflows.engine.testplan import ScriptedDecision
from workflows.language.durations import parse_duration


async def settle(
    ctx: StepContext, test: TestRun, task: ApprovalTask, timeout: str | None, on_timeout: str | None
) -> None:
    """Decide `task` as the test plan says (returns with `task.decision` set, or None
    after a timeout with `on_timeout: fail`)."""
    key, decision = test.next_decision(ctx.address)
    if decision is not None:
        _apply(ctx, test, task, decision)
        return
    test.note(ctx.address, "decision.none")
    before = parse_duration(timeout) if timeout else None
    await sla.fire_now(ctx, before, lambda: task.decision is not None)
    if task.decision is not None:
        return
    if timeout is None:
        name = key or ctx.address
        raise StepFailure(
            f"template test: nobody decides step '{ctx.address}' (decisions.{name}) and the "
            "approval has no timeout: a real run would wait here"
        )
    test.note(ctx.address, "approval.timeout", after=timeout, on_timeout=on_timeout or "fail")
    task.time_out(on_timeout, workflow.now())


def _apply(ctx: StepContext, test: TestRun, task: ApprovalTask, d: ScriptedDecision) -> None:
    where = f"template test: the decision for step '{ctx.address}'"
    if d.outcome not in task.outcomes:
        raise StepFailure(f"{where}: '{d.outcome}' is not one of {', '.join(task.outcomes)}")
    if task.starter_barred is not None and d.actor == task.starter_barred:
        raise StepFailure(f"{where}: '{d.actor}' started the run (self_approval: false)")
    if task.form is not None:
        errors = form_errors(task.form, d.data or {})
        if errors:
            raise StepFailure(f"{where}: data does not match the form: {errors[0]['msg']}")
    now = workflow.now()
    task.votes.append(
        Vote(actor=d.actor, outcome=d.outcome, comment=d.comment, data=d.data, at=now)
    )
    task.close(d.outcome, "quorum", now)
    ctx.status.output = task.output()
    test.note(ctx.address, "decision.scripted", outcome=d.outcome, actor=d.actor)
