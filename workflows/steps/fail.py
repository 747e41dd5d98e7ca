"""`fail:` — the step fails with `message` (rendered), which fails the run.

Like any step, `optional: true` turns it into a recorded failure that does not
fail the run.
"""

from __future__ import annotations

from typing import Any

from workflows.expressions import render
from workflows.steps.base import StepContext, StepFailure


async def run(ctx: StepContext) -> Any:
    fail = ctx.step.fail
    assert fail is not None
    message = render(fail.message, ctx.scope())
    raise StepFailure(message if isinstance(message, str) else str(message))
