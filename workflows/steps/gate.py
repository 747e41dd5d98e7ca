"""`gate:` — a quality gate: `check` must be true, else `on_fail` decides.

- `continue`: the step succeeds with output `{passed: false}` and `error` says which
  check failed — recorded as a failed check; downstream steps run normally.
- `pause`: the step is `waiting` and the run pauses (RunState=paused) until `resume`;
  then the gate passes with output `{passed: false, resumed: true}`.
- `abort`: the step fails (and with it the run, unless the step is `optional`).
"""

from __future__ import annotations

from typing import Any

from workflows.expressions import evaluate
from workflows.steps.base import StepContext, StepFailure


async def run(ctx: StepContext) -> Any:
    gate = ctx.step.gate
    assert gate is not None
    if ctx.resuming and ctx.progress and ctx.progress.get("held"):
        passed = False
    else:
        passed = evaluate(gate.check, ctx.scope())
        if not isinstance(passed, bool):
            raise StepFailure(f"gate check `{gate.check}` must be true or false, got {passed!r}")
    if passed:
        return {"passed": True}
    failed = f"gate check failed: {gate.check}"
    if gate.on_fail == "continue":
        ctx.status.error = failed
        return {"passed": False}
    if gate.on_fail == "abort":
        raise StepFailure(failed)
    ctx.save_progress({"held": True})
    ctx.rt.set_state(ctx.address, "waiting", error=f"{failed} (paused: resume to pass)")
    ctx.rt.pause()
    await ctx.rt.wait_unpaused()
    ctx.status.error = None
    return {"passed": False, "resumed": True}
