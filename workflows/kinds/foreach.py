"""`foreach:` — the nested DAG once per item of `items`, at most `concurrency` at a time.

Items run inside this workflow; nested steps are addressed `<id>[<index>].<child>`
and see `item`, `index` and their own item's steps as `steps.<child>`. Output: the
list of per-item outputs in item order, each `{<child id>: <child output>}`. A failed
item (a non-optional nested step failed) is `null` in the output and its index is listed
in the status's `failed_items`; while failed items stay within `tolerated_failures`
(a count or `N%` of the items, default 0) the step goes on and succeeds. One failure
more stops new items from starting; running items finish; then the step fails (with
the nested step's address and error when nothing was tolerated). When
the run is failing (`rt.failing`), no new item starts and running items start no new
nested steps; the step then ends `cancelled` (StepStopped) unless every item finished.
The evaluated item list and every finished item's outcome are saved as progress so a
continue-as-new resumes exactly; finished items beyond the last few are pruned from the
status document (workflows.engine.bodies).
"""

from __future__ import annotations

import asyncio
import bisect
import re
from typing import Annotated, Any, ClassVar

from pydantic import Field, field_validator
from temporalio import workflow

from workflows.engine.bodies import Bodies
from workflows.engine.context import StepContext, StepFailure
from workflows.engine.frame import Frame
from workflows.engine.runtime import StepStopped
from workflows.language.checker import Checker, Scope
from workflows.language.expressions import ExpressionError, check, evaluate
from workflows.language.kinds import Kind
from workflows.language.model import AnyStep, StepBase, Strict, body_model

PERCENT = r"^(100|[1-9]?[0-9])%$"


@body_model
class Foreach(Strict):
    items: str
    steps: list[AnyStep] = Field(min_length=1)
    concurrency: int = Field(10, ge=1, le=1000)
    #: failed items the step tolerates: a count, or a percentage of the items (`10%`)
    tolerated_failures: Annotated[int, Field(ge=0)] | Annotated[str, Field(pattern=PERCENT)] = 0

    @field_validator("tolerated_failures", mode="before")
    @classmethod
    def _tolerance(cls, v: Any) -> Any:
        """One clear sentence instead of an error per union member."""
        ok = (isinstance(v, int) and not isinstance(v, bool) and v >= 0) or (
            isinstance(v, str) and re.match(PERCENT, v) is not None
        )
        if not ok:
            raise ValueError(
                f"must be a count (0 or more) or a percentage of the items from 0% to 100% "
                f"(e.g. `10%`), got {v!r}"
            )
        return v


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


def allowed_failures(tolerated: int | str, n: int) -> int:
    """How many of `n` items may fail: a count, or `N%` of the items (rounded down)."""
    if isinstance(tolerated, str):
        return n * int(tolerated.rstrip("%")) // 100
    return tolerated


async def run(ctx: StepContext, step: ForeachStep) -> Any:
    rt, spec = ctx.rt, step.foreach
    progress = ctx.progress or {}
    if "items" in progress:
        items = progress["items"]
    else:
        items = evaluate(spec.items, ctx.scope())
        if not isinstance(items, list):
            raise StepFailure(
                f"foreach.items `{spec.items}` must give a list, got {type(items).__name__}"
            )
        progress = {**progress, "items": items}  # a redrive seeds `done`
        ctx.save_progress(progress)
    n, allowed = len(items), allowed_failures(spec.tolerated_failures, len(items))
    # outcome of every finished item by str(index) (JSON keys): outputs, (address, error)
    done: dict[str, Any] = progress.setdefault("done", {})
    failed: dict[str, list[str]] = progress.setdefault("failed", {})
    log = Bodies(rt, ctx.address, spec.steps, progress, fresh=not ctx.resuming)
    st = ctx.status
    if not ctx.resuming:
        st.failed_items = None
    frames: dict[int, Frame] = {}

    def frame(i: int) -> Frame:
        if i not in frames:
            frames[i] = ctx.body_frame(i, {"item": items[i], "index": i}, spec.steps)
        return frames[i]

    def record(i: int, failure: tuple[str, str] | None) -> None:
        if failure is None:
            done[str(i)] = rt.frame_outputs(frame(i))
        else:
            failed[str(i)] = list(failure)
            st.failed_items = st.failed_items or []
            bisect.insort(st.failed_items, i)  # listed as they fail
        frames.pop(i, None)
        log.finished(i, failure is not None)

    todo: list[int] = []
    for i in range(n):
        if str(i) in done or str(i) in failed:
            continue
        if ctx.resuming and rt.frame_done(frame(i)):  # carried by a redrive
            record(i, rt.frame_failure(frame(i)))
        else:
            todo.append(i)
    pending = iter(todo)
    running: dict[asyncio.Task[Any], int] = {}
    cancelled = stopped = False
    while True:
        while len(failed) <= allowed and not cancelled and len(running) < spec.concurrency:
            if rt.failing is not None:
                stopped = True
                break
            nxt = next(pending, None)
            if nxt is None:
                break
            running[asyncio.create_task(ctx.run_body(frame(nxt)))] = nxt
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
            i = running.pop(t)
            if t.cancelled():
                continue
            try:
                result = t.result()
            except StepStopped:  # the run is failing: this item's body was stopped
                stopped = True
                continue
            record(i, result)
        ctx.set_detail(_detail(len(done), len(failed), n))
    if cancelled:
        raise asyncio.CancelledError()
    if len(failed) > allowed or (stopped and len(done) + len(failed) < n):
        # for a redrive: the outputs of succeeded items no longer listed
        log.summary.outputs = {
            int(k): v for k, v in done.items() if not log.listed(int(k))
        } or None
    if len(failed) > allowed:
        address, error = next(iter(failed.values()))
        if spec.tolerated_failures == 0:
            raise StepFailure(f"{address}: {error}")
        raise StepFailure(
            f"{len(failed)} of {n} items failed, more than tolerated_failures="
            f"{spec.tolerated_failures} allows (first: {address}: {error})"
        )
    if stopped and len(done) + len(failed) < n:
        rt.stop_if_failing()
    return [done.get(str(i)) for i in range(n)]


def _detail(succeeded: int, failed: int, n: int) -> str:
    text = f"{succeeded + failed}/{n} items"
    return f"{text} ({failed} failed)" if failed else text


KIND = Kind(
    model=ForeachStep,
    run=run,
    check=check_step,
    describe=lambda step: f"items: {step.foreach.items}",
)
