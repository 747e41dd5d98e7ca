"""The DAG scheduler: runs one frame (top level, a foreach item or a loop iteration).

Every step whose dependencies are finished starts at once as an asyncio task.
`run_if` is decided before `when`. A failed non-optional step stops new steps from
starting except `run_if: all_done` ones (those that cannot start any more are
marked `skipped`); running steps finish. On cancellation, running steps are
cancelled, the frame's `run_if: all_done` steps still run, the rest become
`cancelled`, and CancelledError is re-raised.
"""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from functools import partial
from typing import Any

from temporalio import workflow
from temporalio.exceptions import CancelledError as TemporalCancelledError
from temporalio.exceptions import FailureError

from workflows.engine import incidents
from workflows.engine.context import StepContext, StepFailure
from workflows.engine.failures import failure_message
from workflows.engine.frame import Frame
from workflows.engine.io import StepStatus
from workflows.engine.runtime import TERMINAL, Runtime, StepStopped
from workflows.language import kinds
from workflows.language.expressions import ExpressionError, evaluate
from workflows.language.model import StepBase


def run_if_allows(run_if: str, dep_states: list[str]) -> bool:
    if run_if == "all_done":
        return True
    if run_if == "none_failed":
        return not any(s in ("failed", "cancelled") for s in dep_states)
    if run_if == "any_succeeded":
        return not dep_states or any(s == "succeeded" for s in dep_states)
    return all(s == "succeeded" for s in dep_states)  # all_succeeded


def dep_state(st: StepStatus) -> str:
    """A dependency's state for `run_if`: a held step an operator skipped counts as succeeded."""
    if st.state == "skipped" and st.incidents and st.incidents[-1].action == "skip":
        return "succeeded"
    return st.state


async def run_dag(rt: Runtime, frame: Frame) -> tuple[str, str] | None:
    """Run one frame; (address, error) of its failure, None on success.

    A nested frame (foreach item, loop iteration) also stops when the run is failing
    (`rt.failing`: a top-level step failed): steps that become ready are `skipped`,
    except `run_if: all_done` ones. If that (or a stopped nested foreach/loop) cut the
    body short, it raises StepStopped once its running steps finished, so the
    enclosing foreach/loop ends `cancelled`.
    """
    rt.register(frame)
    tasks: dict[str, asyncio.Task[None]] = {}
    failure = rt.frame_failure(frame)  # a failure carried over a continue-as-new
    cancelled = stopped = False
    while True:
        if failure is not None and frame.parent is None and rt.failing is None:
            rt.failing = failure[0]  # bodies of running foreach/loop steps stop too
        run_failing = frame.parent is not None and rt.failing is not None
        stopping = failure is not None or run_failing
        if _start_ready(rt, frame, tasks, stopping=stopping, cancelled=cancelled):
            stopped = stopped or run_failing
        running = [t for t in tasks.values() if not t.done()]
        if not running:
            break
        try:
            await workflow.wait(running, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            cancelled = True
            rt.cancel_tasks(running)
        if failure is None:
            failure = rt.frame_failure(frame)
    for t in tasks.values():  # retrieve results so nothing is logged as unretrieved
        if not t.cancelled():
            t.exception()
    if cancelled:
        raise asyncio.CancelledError()
    cut_short = stopped or frame.held_back or _has_cancelled(rt, frame)
    if failure is None and rt.failing is not None and cut_short:
        rt.stop_if_failing()  # this body was cut short by the run failing: StepStopped
    return failure


def _failing(rt: Runtime, frame: Frame) -> bool:
    """New steps of `frame` must not start: it, or (for bodies) the whole run, is failing."""
    return rt.failing is not None or rt.frame_failure(frame) is not None


def _has_cancelled(rt: Runtime, frame: Frame) -> bool:
    """A nested foreach/loop of this frame was stopped (not cancelled: that raised above)."""
    return any(rt.statuses[frame.address(s.id)].state == "cancelled" for s in frame.steps)


def _start_ready(
    rt: Runtime,
    frame: Frame,
    tasks: dict[str, asyncio.Task[None]],
    *,
    stopping: bool,
    cancelled: bool,
) -> bool:
    """Start every ready step; True if a step was marked skipped because of `stopping`."""
    stopped = False
    progressed = True
    while progressed:
        progressed = False
        for step in frame.steps:
            addr = frame.address(step.id)
            state = rt.statuses[addr].state
            if step.id in tasks or state in TERMINAL:
                continue
            deps = [dep_state(rt.statuses[frame.address(d)]) for d in step.depends_on]
            if any(d not in TERMINAL for d in deps):
                continue
            if (stopping or cancelled) and step.run_if != "all_done":
                rt.set_state(addr, "cancelled" if cancelled else "skipped")
                stopped = stopped or not cancelled
                progressed = True
            elif not run_if_allows(step.run_if, deps):
                rt.set_state(addr, "skipped")
                progressed = True
            else:
                tasks[step.id] = asyncio.create_task(run_step(rt, frame, step))
    return stopped


async def run_step(rt: Runtime, frame: Frame, step: StepBase) -> None:
    addr = frame.address(step.id)
    resuming = rt.resumable(addr)
    # a redrive seeds a loop's progress (the iteration it resumes at)
    seeded = addr in rt.seeded
    rt.seeded.discard(addr)
    progress = rt.progress.get(addr) if resuming or seeded else None
    ctx = StepContext(rt, frame, step, addr, partial(run_dag, rt), progress)
    try:
        deferred = await rt.checkpoint()
        if deferred and not resuming and step.run_if != "all_done" and _failing(rt, frame):
            # held back (pause, continue-as-new drain) while something failed: don't start
            rt.set_state(addr, "skipped")
            frame.held_back = True
            return
        if not resuming and step.when is not None:
            ok = evaluate(step.when, rt.scope(frame))
            if not isinstance(ok, bool):
                raise StepFailure(f"`when: {step.when}` must be true or false, got {ok!r}")
            if not ok:
                rt.set_state(addr, "skipped")
                return
        kind = kinds.get(step.kind)
        if kind is None:
            raise StepFailure(f"step kind {step.kind!r} is not supported by this worker")
        if rt.statuses[addr].state not in ("waiting", "held"):
            rt.set_state(addr, "running")
        async with AsyncExitStack() as stack:
            for wrap in rt.step_wrappers:
                await stack.enter_async_context(wrap(ctx))
            output: Any = await incidents.run(ctx, kind, step)
        rt.set_state(addr, "succeeded", output=output)
    except incidents.Skipped as e:  # a held step resolved with `skip`
        rt.set_state(addr, "skipped", output=e.output, error=None)
    except asyncio.CancelledError:
        rt.set_state(addr, "cancelled")
        raise
    except StepStopped as e:
        rt.set_state(addr, "cancelled", error=e.message)
    except StepFailure as e:
        rt.set_state(addr, "failed", error=e.message)
    except ExpressionError as e:
        rt.set_state(addr, "failed", error=str(e))
    except FailureError as e:
        if rt.cancelling and _was_cancelled(e):  # ended because the run is being cancelled
            rt.set_state(addr, "cancelled")
            raise asyncio.CancelledError() from e
        rt.set_state(addr, "failed", error=failure_message(e))


def _was_cancelled(err: BaseException) -> bool:
    cur: BaseException | None = err
    while isinstance(cur, FailureError):
        if isinstance(cur, TemporalCancelledError):
            return True
        cur = cur.cause
    return False
