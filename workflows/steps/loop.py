"""`loop:` — the nested DAG repeated until `until` is true (at most `max_iterations`).

Iteration `i` (0-based) runs inside this workflow with `iteration = i`; nested steps
are addressed `<id>[<i>].<child>`. `until` is evaluated after each iteration in that
iteration's scope (`steps.<child>` = this iteration's steps). A failed iteration fails
the step; when the run is failing, no new iteration starts and the running one starts
no new nested step (StepStopped from `run_dag`): the step ends `cancelled`. Reaching
`max_iterations` with `until` still false fails the step. Output: the last
iteration's outputs, `{<child id>: <child output>}`. The current iteration number is
saved as progress for continue-as-new.
"""

from __future__ import annotations

from typing import Any

from workflows.expressions import evaluate
from workflows.steps.base import StepContext, StepFailure


async def run(ctx: StepContext) -> Any:
    rt, spec = ctx.rt, ctx.step.loop
    assert spec is not None
    start = int((ctx.progress or {}).get("iteration", 0))
    for i in range(start, spec.max_iterations):
        rt.stop_if_failing()
        ctx.save_progress({"iteration": i})
        ctx.set_detail(f"iteration {i + 1}/{spec.max_iterations}")
        frame = rt.child_frame(ctx.frame, ctx.address, i, {"iteration": i}, spec.steps)
        failure = await rt.run_dag(frame)
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
