"""`set:` — values rendered like `with:` (`${{ }}` interpolation) and merged into `vars`.

`vars` is one run-wide namespace (also for `set` steps inside foreach/loop bodies:
the last write wins, in completion order). Output: the values set. No activity: the
values are computed in the workflow.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from workflows.engine.context import StepContext
from workflows.language.checker import Checker, Scope
from workflows.language.expressions import render
from workflows.language.kinds import Kind
from workflows.language.model import StepBase


class SetStep(StepBase):
    kind: ClassVar[str] = "set"

    set_: dict[str, Any] = Field(alias="set")


def check(c: Checker, step: SetStep, loc: str, here: Scope) -> None:
    if not step.set_:
        c.add(f"{loc}.set", "set needs at least one name: value")
    c.value(step.set_, f"{loc}.set", here)


async def run(ctx: StepContext, step: SetStep) -> Any:
    values = render(step.set_, ctx.scope())
    ctx.rt.vars.update(values)
    return values


KIND = Kind(
    model=SetStep,
    run=run,
    check=check,
    describe=lambda step: "set " + ", ".join(step.set_),
    shape=('[/"', '"/]'),
    writes=lambda step: list(step.set_),
)
