"""`gate:` — a quality gate: `check` must be true, else `on_fail` decides.

- `continue`: the step succeeds with output `{passed: false}` and `error` says which
  check failed — recorded as a failed check; downstream steps run normally.
- `pause`: the step is `waiting` and the run pauses (RunState=paused) until `resume`;
  then the gate passes with output `{passed: false, resumed: true}`.
- `abort`: the step fails (and with it the run, unless the step is `optional`).
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from workflows.engine import testmode
from workflows.engine.context import StepContext, StepFailure
from workflows.language.checker import Checker, Scope
from workflows.language.expressions import evaluate
from workflows.language.kinds import Kind
from workflows.language.model import StepBase, Strict


class Gate(Strict):
    check: str
    on_fail: Literal["continue", "pause", "abort"] = "abort"


class GateStep(StepBase):
    kind: ClassVar[str] = "gate"

    gate: Gate


def check(c: Checker, step: GateStep, loc: str, here: Scope) -> None:
    c.expr(step.gate.check, f"{loc}.gate.check", here)


async def run(ctx: StepContext, step: GateStep) -> Any:
    gate = step.gate
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
    test = testmode.of(ctx.rt)
    if test is not None:  # a template test: the script resumes the run at once
        test.resume_gate(ctx)
    await ctx.rt.wait_unpaused()
    ctx.status.error = None
    return {"passed": False, "resumed": True}


KIND = Kind(
    model=GateStep,
    run=run,
    check=check,
    describe=lambda step: f"gate: {step.gate.check}",
    shape=('{"', '"}'),
)
