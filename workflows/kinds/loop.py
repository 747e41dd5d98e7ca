"""`loop:` — the nested DAG repeated until `until` is true (at most `max_iterations`).

Iteration `i` (0-based) runs inside this workflow with `iteration = i`; nested steps
are addressed `<id>[<i>].<child>`. `until` is evaluated after each iteration in that
iteration's scope (`steps.<child>` = this iteration's steps). A failed iteration fails
the step; when the run is failing, no new iteration starts and the running one starts
no new nested step (StepStopped from `run_dag`): the step ends `cancelled`. Reaching
`max_iterations` with `until` still false fails the step. Output: the last
iteration's outputs, `{<child id>: <child output>}`. The current iteration number is
saved as progress for continue-as-new; finished iterations beyond the last few are
pruned from the status document (workflows.engine.bodies).
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from workflows.engine.bodies import Bodies
from workflows.engine.context import StepContext, StepFailure
from workflows.language.checker import Checker, Scope
from workflows.language.expressions import evaluate
from workflows.language.kinds import Kind
from workflows.language.model import AnyStep, StepBase, Strict, body_model


@body_model
class Loop(Strict):
    steps: list[AnyStep] = Field(min_length=1)
    until: str
    max_iterations: int = Field(ge=1, le=100_000)


class LoopStep(StepBase):
    kind: ClassVar[str] = "loop"
    body_names: ClassVar[frozenset[str]] = frozenset({"iteration"})

    loop: Loop

    def body(self) -> list[StepBase]:
        return list(self.loop.steps)


def check(c: Checker, step: LoopStep, loc: str, here: Scope) -> None:
    """`until` runs after each iteration: it may name the body's steps."""
    ids = frozenset(s.id for s in step.loop.steps)
    until = Scope(here.names | step.body_names, here.allowed | ids, here.known | ids)
    c.expr(step.loop.until, f"{loc}.loop.until", until)


async def run(ctx: StepContext, step: LoopStep) -> Any:
    rt, spec = ctx.rt, step.loop
    progress = dict(ctx.progress or {})
    log = Bodies(rt, ctx.address, spec.steps, progress, fresh=not ctx.resuming)
    start = int(progress.get("iteration", 0))
    ctx.save_progress(progress)
    for i in range(start, spec.max_iterations):
        rt.stop_if_failing()
        progress["iteration"] = i
        ctx.set_detail(f"iteration {i + 1}/{spec.max_iterations}")
        frame = ctx.body_frame(i, {"iteration": i}, spec.steps)
        failure = await ctx.run_body(frame)
        log.finished(i, failure is not None)
        if failure is not None:
            raise StepFailure(f"{failure[0]}: {failure[1]}")
        done = evaluate(spec.until, rt.scope(frame))
        if not isinstance(done, bool):
            raise StepFailure(f"loop.until `{spec.until}` must be true or false, got {done!r}")
        if done:
            return rt.frame_outputs(frame)
    raise StepFailure(
        f"loop did not finish within max_iterations={spec.max_iterations} "
        f"(until `{spec.until}` still false)"
    )


KIND = Kind(
    model=LoopStep,
    run=run,
    check=check,
    describe=lambda step: f"until: {step.loop.until}; max {step.loop.max_iterations}",
)
