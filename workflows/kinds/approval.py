"""`approval:` — a human task (SPEC §2 approvals, §3, §7).

`assignees` (`users`, `roles`, `pick`), `quorum` (a number or `all`), `outcomes`
(default approved/rejected), an optional `form` (JSON Schema of the data a decider
submits), `timeout` + `on_timeout` (an outcome, or `fail`), `self_approval: false`
(the run's starter may not decide). The step succeeds with
`decision` = the winning outcome (`rejected` is a decision, not a failure). Its
machinery — the book of open tasks, quorum, the decide/reassign handlers,
notifications — lives in `workflows.engine.approvals`.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field

from workflows.engine.approvals import step as approval_step
from workflows.engine.context import StepContext
from workflows.language.checker import Checker, Scope, check_schema, literal_assignees
from workflows.language.kinds import Kind
from workflows.language.model import Assignees, Duration, StepBase, Strict


class Approval(Strict):
    assignees: Assignees
    quorum: int | Literal["all"] = 1
    outcomes: list[str] = Field(default_factory=lambda: ["approved", "rejected"], min_length=1)
    form: dict[str, Any] | None = None
    timeout: Duration | None = None
    on_timeout: str | None = None
    #: false: the run's starter may not decide this step (separation of duties, SPEC §11)
    self_approval: bool = True


class ApprovalStep(StepBase):
    kind: ClassVar[str] = "approval"

    approval: Approval


def check(c: Checker, step: ApprovalStep, loc: str, here: Scope) -> None:
    a = step.approval
    aloc = f"{loc}.approval"
    users, roles = a.assignees.users, a.assignees.roles
    if not users and not roles:
        c.add(f"{aloc}.assignees", "an approval needs at least one assignee (users or roles)")
    literal_assignees(c, users + roles, f"{aloc}.assignees")
    dynamic_users = any("${{" in u for u in users)
    if isinstance(a.quorum, int):
        if a.quorum < 1:
            c.add(f"{aloc}.quorum", f"quorum must be at least 1 (got {a.quorum})")
        elif users and not roles and not dynamic_users and a.quorum > len(set(users)):
            c.add(
                f"{aloc}.quorum",
                f"quorum {a.quorum} is more than the {len(set(users))} listed users: "
                "no outcome could ever win",
            )
        elif a.quorum > 1 and a.assignees.pick == "least_loaded" and not users:
            c.add(
                f"{aloc}.quorum",
                "pick: least_loaded assigns one person, so quorum can be at most 1",
            )
    seen: set[str] = set()
    for k, outcome in enumerate(a.outcomes):
        if outcome in seen:
            c.add(f"{aloc}.outcomes[{k}]", f"duplicate outcome '{outcome}'")
        if outcome == "fail":
            c.add(
                f"{aloc}.outcomes[{k}]", "'fail' is reserved (on_timeout: fail); pick another name"
            )
        if not outcome.strip():
            c.add(f"{aloc}.outcomes[{k}]", "an outcome needs a name")
        seen.add(outcome)
    if a.on_timeout is not None:
        if a.on_timeout != "fail" and a.on_timeout not in a.outcomes:
            c.add(
                f"{aloc}.on_timeout",
                f"on_timeout '{a.on_timeout}' must be one of the outcomes "
                f"({', '.join(a.outcomes)}) or fail",
            )
        if a.timeout is None:
            c.add(f"{aloc}.on_timeout", "on_timeout needs approval.timeout")
    if a.form is not None:
        check_schema(a.form, f"{aloc}.form", "form schema", c.add)
        if a.form.get("type", "object") != "object":
            c.add(f"{aloc}.form.type", "a form describes an object (the data a decider submits)")


def describe(step: ApprovalStep) -> str:
    a = step.approval
    who = [f"role {r}" for r in a.assignees.roles] + [f"user {u}" for u in a.assignees.users]
    quorum = "" if a.quorum == 1 else f" (quorum {a.quorum})"
    return "approval: " + ", ".join(who) + quorum


async def run(ctx: StepContext, step: ApprovalStep) -> dict[str, Any]:
    return await approval_step.run(ctx, step.approval)


KIND = Kind(
    model=ApprovalStep,
    run=run,
    check=check,
    describe=describe,
    shape=('{{"', '"}}'),
    outcomes=lambda step: list(step.approval.outcomes),
)
