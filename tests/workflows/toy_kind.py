"""A toy step kind, `shout`, written the way a new kind is: one module, one `KIND`.

`shout: {text}` renders `text` (`${{ }}` allowed) and outputs it upper-cased, in the
workflow (no activity). Registered only by the test that uses it.
"""

from __future__ import annotations

from typing import Any, ClassVar

from workflows.engine.context import StepContext, StepFailure
from workflows.language.checker import Checker, Scope
from workflows.language.expressions import render
from workflows.language.kinds import Kind
from workflows.language.model import StepBase, Strict


class Shout(Strict):
    text: str


class ShoutStep(StepBase):
    kind: ClassVar[str] = "shout"

    shout: Shout


def check(c: Checker, step: ShoutStep, loc: str, here: Scope) -> None:
    if not step.shout.text.strip():
        c.add(f"{loc}.shout.text", "shout needs something to say")
    c.value(step.shout.text, f"{loc}.shout.text", here)


async def run(ctx: StepContext, step: ShoutStep) -> Any:
    text = render(step.shout.text, ctx.scope())
    if not isinstance(text, str):
        raise StepFailure(f"shout.text must give a string, got {type(text).__name__}")
    return {"text": text.upper()}


KIND = Kind(
    model=ShoutStep,
    run=run,
    check=check,
    describe=lambda step: f"shout: {step.shout.text}",
    shape=('>"', '"]'),
)
