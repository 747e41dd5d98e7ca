"""`foreach:` — the nested DAG once per item of `items`, at most `concurrency` at a time.

Items run inside this workflow; nested steps are addressed `<id>[<index>].<child>`
and see `item`, `index` and their own item's steps as `steps.<child>`. Output: the
list of per-item outputs in item order, each `{<child id>: <child output>}`. A failed
item (a non-optional nested step failed) stops new items from starting; running
items finish; then the step fails with that nested step's address and error. When
the run is failing (`rt.failing`), no new item starts and running items start no new
nested steps; the step then ends `cancelled` (StepStopped) unless every item finished.
The evaluated item list is saved as progress so a continue-as-new resumes exactly.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from temporalio import workflow

from workflows.expressions import evaluate
from workflows.steps.base import StepContext, StepFailure, StepStopped

if TYPE_CHECKING:
    from workflows.runtime import Frame


async def run(ctx: StepContext) -> Any:
    rt, spec = ctx.rt, ctx.step.foreach
    assert spec is not None
    if ctx.progress and "items" in ctx.progress:
        items = ctx.progress["items"]
    else:
        items = evaluate(spec.items, ctx.scope())
        if not isinstance(items, list):
            raise StepFailure(
                f"foreach.items `{spec.items}` must give a list, got {type(items).__name__}"
            )
        ctx.save_progress({"items": items})
    frames: dict[int, Frame] = {}

    def frame(i: int) -> Frame:
        if i not in frames:
            frames[i] = rt.child_frame(
                ctx.frame, ctx.address, i, {"item": items[i], "index": i}, spec.steps
            )
        return frames[i]

    finished = sum(1 for i in range(len(items)) if ctx.resuming and rt.frame_done(frame(i)))
    todo = iter([i for i in range(len(items)) if not (ctx.resuming and rt.frame_done(frame(i)))])
    failure = None
    if ctx.resuming:
        failure = next((f for i in range(len(items)) if (f := rt.frame_failure(frame(i)))), None)
    running: dict[asyncio.Task[Any], int] = {}
    cancelled = stopped = False
    while True:
        while failure is None and not cancelled and len(running) < spec.concurrency:
            if rt.failing is not None:
                stopped = True
                break
            i = next(todo, None)
            if i is None:
                break
            running[asyncio.create_task(rt.run_dag(frame(i)))] = i
        if not running:
            break
        try:
            await workflow.wait(list(running), return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            cancelled = True
            rt.cancel_tasks(list(running))
            continue
        # in item order (the set workflow.wait returns has no deterministic order)
        for t in sorted((t for t in running if t.done()), key=running.__getitem__):
            running.pop(t)
            if t.cancelled():
                continue
            try:
                result = t.result()
            except StepStopped:  # the run is failing: this item's body was stopped
                stopped = True
                continue
            finished += 1
            if result is not None and failure is None:
                failure = result
        ctx.set_detail(f"{finished}/{len(items)} items")
    if cancelled:
        raise asyncio.CancelledError()
    if failure is not None:
        raise StepFailure(f"{failure[0]}: {failure[1]}")
    if stopped and finished < len(items):
        rt.stop_if_failing()
    return [rt.frame_outputs(frame(i)) for i in range(len(items))]
