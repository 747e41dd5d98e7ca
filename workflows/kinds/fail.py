"""`fail:` — the step fails with `message` (rendered), which fails the run.

Like any step, `optional: true` turns it into a recorded failure that does not
fail the run.
"""

from __future__ import annotations

from typing import Any, ClassVar

from workflows.engine.context import StepContext, StepFailure
from workflows.language.checker import Checker, Scope
from workflows.language.expressions import render
from workflows.language.kinds import Kind
from workflows.language.model import StepBase, Strict


class Fail(Strict):
    message: str


class FailStep(StepBase):
    kind: ClassVar[str] = "fail"

    fail: Fail


def check(c: Checker, step: FailStep, loc: str, here: Scope) -> None:
    c.value(step.fail.message, f"{loc}.fail.message", here)


async def run(ctx: StepContext, step: FailStep) -> Any:
    message = render(step.fail.message, ctx.scope())
    raise StepFailure(message if isinstance(message, str) else str(message))


KIND = Kind(
    model=FailStep,
    run=run,
    check=check,
    describe=lambda step: "fail",
    shape=('((("', '")))'),
    holds=False,  # a deliberate end of the run: never held as an incident
)
