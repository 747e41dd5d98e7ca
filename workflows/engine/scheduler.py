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
import heapq
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
    dag = _Dag(rt, frame)
    inline = rt.plan.engine >= 2
    failure = rt.frame_failure(frame)  # a failure carried over a continue-as-new
    cancelled = stopped = False
    while True:
        if failure is not None and frame.parent is None and rt.failing is None:
            rt.failing = failure[0]  # bodies of running foreach/loop steps stop too
        run_failing = frame.parent is not None and rt.failing is not None
        stopping = failure is not None or run_failing
        start, skipped = dag.start_ready(stopping=stopping, cancelled=cancelled)
        if skipped:
            stopped = stopped or run_failing
        if len(start) == 1 and not dag.active and inline:
            # the frame's only runnable step: run it in this coroutine (no task, no wait)
            i = start[0]
            try:
                await run_step(rt, frame, frame.steps[i])
            except asyncio.CancelledError:
                cancelled = True
            finished = dag.finished_inline(i)
        else:
            for i in start:
                dag.spawn(i)
            running = list(dag.active.values())
            if not running:
                break
            try:
                await workflow.wait(running, return_when=asyncio.FIRST_COMPLETED)
            except asyncio.CancelledError:
                cancelled = True
                rt.cancel_tasks(running)
            finished = dag.collect()
        if failure is None:
            failure = dag.first_failure(finished)
    for t in dag.tasks.values():  # retrieve results so nothing is logged as unretrieved
        if not t.cancelled():
            t.exception()
    if cancelled:
        raise asyncio.CancelledError()
    cut_short = stopped or frame.held_back or _has_cancelled(rt, frame)
    if failure is None and rt.failing is not None and cut_short:
        rt.stop_if_failing()  # this body was cut short by the run failing: StepStopped
    return failure


class _Dag:
    """Bookkeeping of one `run_dag`: O(1) per step event instead of rescanning the frame.

    `waiting_on[i]`: dependencies of step `i` not finished yet; a step is *ready* when
    that reaches 0. Ready steps are handled in exactly the order the former full scans
    handled them (file order per pass; a step made ready by a skip earlier in the file
    waits for the next pass), so the commands a run issues are unchanged.
    """

    def __init__(self, rt: Runtime, frame: Frame) -> None:
        self.rt, self.frame = rt, frame
        steps = frame.steps
        self.addrs = [frame.address(s.id) for s in steps]
        position = {s.id: i for i, s in enumerate(steps)}
        self.dependents: list[list[int]] = [[] for _ in steps]
        self.deps: list[list[int]] = [
            [position[d] for d in dict.fromkeys(s.depends_on)] for s in steps
        ]
        statuses = rt.statuses
        self.finished = [statuses.peek(a).state in TERMINAL for a in self.addrs]
        self.waiting_on = [0] * len(steps)
        for i, deps in enumerate(self.deps):
            for d in deps:
                self.dependents[d].append(i)
                if not self.finished[d]:
                    self.waiting_on[i] += 1
        self.ready = [i for i, n in enumerate(self.waiting_on) if n == 0 and not self.finished[i]]
        self.tasks: dict[str, asyncio.Task[None]] = {}
        #: started steps whose task has not been collected yet: step position -> task
        self.active: dict[int, asyncio.Task[None]] = {}

    def _finish(self, i: int, later: list[int], now: list[int] | None = None, at: int = -1) -> None:
        """Step `i` reached a final state: its dependents may become ready."""
        self.finished[i] = True
        for j in self.dependents[i]:
            self.waiting_on[j] -= 1
            if self.waiting_on[j] == 0 and not self.finished[j] and j not in self.active:
                if now is not None and j > at:
                    heapq.heappush(now, j)
                else:
                    later.append(j)

    def collect(self) -> list[int]:
        """Positions of the started steps whose task ended since the last call."""
        done = [i for i, t in self.active.items() if t.done()]
        statuses = self.rt.statuses
        for i in done:
            del self.active[i]
            if statuses.peek(self.addrs[i]).state in TERMINAL:
                self._finish(i, self.ready)
        return done

    def first_failure(self, finished: list[int]) -> tuple[str, str] | None:
        """The frame's failure among `finished` steps: the first non-optional failed one."""
        for i in sorted(finished):
            st = self.rt.statuses.peek(self.addrs[i])
            if st.state == "failed" and not self.frame.steps[i].optional:
                return self.addrs[i], st.error or "failed"
        return None

    def start_ready(self, *, stopping: bool, cancelled: bool) -> tuple[list[int], bool]:
        """Decide every ready step: the positions to start now (in start order), and
        True if a step was marked skipped because of `stopping`."""
        rt, steps, statuses = self.rt, self.frame.steps, self.rt.statuses
        stopped = False
        start: list[int] = []
        now = sorted(self.ready)
        self.ready = []
        while now:
            later: list[int] = []
            while now:
                i = heapq.heappop(now)
                step, addr = steps[i], self.addrs[i]
                if (stopping or cancelled) and step.run_if != "all_done":
                    rt.set_state(addr, "cancelled" if cancelled else "skipped")
                    stopped = stopped or not cancelled
                    self._finish(i, later, now, i)
                    continue
                deps = [dep_state(statuses.peek(self.addrs[d])) for d in self.deps[i]]
                if not run_if_allows(step.run_if, deps):
                    rt.set_state(addr, "skipped")
                    self._finish(i, later, now, i)
                else:
                    start.append(i)
            now = sorted(later)
        return start, stopped

    def spawn(self, i: int) -> None:
        """Run step `i` as a task of its own (beside others of the frame)."""
        step = self.frame.steps[i]
        task = asyncio.create_task(run_step(self.rt, self.frame, step))
        self.tasks[step.id] = self.active[i] = task

    def finished_inline(self, i: int) -> list[int]:
        """Step `i` ran inline (`run_dag`) and returned: as `collect` for it."""
        if self.rt.statuses.peek(self.addrs[i]).state in TERMINAL:
            self._finish(i, self.ready)
        return [i]


def _failing(rt: Runtime, frame: Frame) -> bool:
    """New steps of `frame` must not start: it, or (for bodies) the whole run, is failing."""
    return rt.failing is not None or rt.frame_failure(frame) is not None


def _has_cancelled(rt: Runtime, frame: Frame) -> bool:
    """A nested foreach/loop of this frame was stopped (not cancelled: that raised above)."""
    return any(rt.statuses.peek(frame.address(s.id)).state == "cancelled" for s in frame.steps)


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
        if rt.statuses.peek(addr).state not in ("waiting", "held"):
            rt.set_state(addr, "running")
        wrappers = [w for w in (wrap(ctx) for wrap in rt.step_wrappers) if w is not None]
        output: Any
        if wrappers:
            async with AsyncExitStack() as stack:
                for w in wrappers:
                    await stack.enter_async_context(w)
                output = await incidents.run(ctx, kind, step)
        else:  # most steps: no SLA, nothing to wrap
            output = await incidents.run(ctx, kind, step)
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
