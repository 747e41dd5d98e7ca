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
from typing import Any, ClassVar

from pydantic import Field
from temporalio import workflow

from workflows.engine.context import StepContext, StepFailure
from workflows.engine.frame import Frame
from workflows.engine.runtime import StepStopped
from workflows.language.checker import Checker, Scope
from workflows.language.expressions import ExpressionError, check, evaluate
from workflows.language.kinds import Kind
from workflows.language.model import AnyStep, StepBase, Strict, body_model


@body_model
class Foreach(Strict):
    items: str
    steps: list[AnyStep] = Field(min_length=1)
    concurrency: int = Field(10, ge=1, le=1000)


class ForeachStep(StepBase):
    kind: ClassVar[str] = "foreach"
    body_names: ClassVar[frozenset[str]] = frozenset({"item", "index"})

    foreach: Foreach

    def body(self) -> list[StepBase]:
        return list(self.foreach.steps)


def check_step(c: Checker, step: ForeachStep, loc: str, here: Scope) -> None:
    where = f"{loc}.foreach.items"
    c.expr(step.foreach.items, where, here)
    try:  # a literal list must not be empty
        check(step.foreach.items, ())
    except ExpressionError:
        return  # uses names: decided at run time (or reported above)
    try:
        items = evaluate(step.foreach.items, {})
    except ExpressionError as e:
        c.add(where, str(e))
        return
    if not isinstance(items, list):
        c.add(where, f"items must evaluate to a list, got {type(items).__name__}")
    elif not items:
        c.add(where, "items is an empty list: the foreach would never run its steps")


async def run(ctx: StepContext, step: ForeachStep) -> Any:
    rt, spec = ctx.rt, step.foreach
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
            frames[i] = ctx.body_frame(i, {"item": items[i], "index": i}, spec.steps)
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
            running[asyncio.create_task(ctx.run_body(frame(i)))] = i
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


KIND = Kind(
    model=ForeachStep,
    run=run,
    check=check_step,
    describe=lambda step: f"items: {step.foreach.items}",
)
