"""`set:` — values rendered like `with:` (`${{ }}` interpolation) and merged into `vars`.

`vars` is one run-wide namespace (also for `set` steps inside foreach/loop bodies:
the last write wins, in completion order). Output: the values set.
"""

from __future__ import annotations

from typing import Any

from workflows.expressions import render
from workflows.steps.base import StepContext


async def run(ctx: StepContext) -> Any:
    values = render(ctx.step.set_ or {}, ctx.scope())
    ctx.rt.vars.update(values)
    return values
