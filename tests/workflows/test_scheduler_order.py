"""The counter-based scheduler (`scheduler._Dag`) starts and skips steps in exactly the
order the former full rescans did, so command order — and so histories — are unchanged.
(A frame's only runnable step may run inline instead of as a task: `run_dag`, plans of
engine 2; it is started at the same point, after the pass.)"""

from __future__ import annotations

import random
from typing import Any

import pytest

from workflows.engine import scheduler
from workflows.engine.frame import Frame
from workflows.engine.io import StepStatus
from workflows.engine.statuses import Statuses
from workflows.kinds.action import ActionStep

TERMINAL = scheduler.TERMINAL
RUN_IFS = ["all_succeeded", "none_failed", "any_succeeded", "all_done"]


class FakeRt:
    def __init__(self, log: list[Any]) -> None:
        self.statuses = Statuses()
        self.log = log

    def set_state(self, addr: str, state: str, **_: Any) -> StepStatus:
        self.statuses[addr].state = state
        self.log.append(("state", addr, state))
        return self.statuses[addr]


class FakeTask:
    def __init__(self) -> None:
        self.finished = False

    def done(self) -> bool:
        return self.finished


def reference_start_ready(rt: FakeRt, frame: Frame, tasks: dict[str, Any], stopping: bool) -> None:
    """The scan `_start_ready` did before the counters (file order, repeated while progressing)."""
    progressed = True
    while progressed:
        progressed = False
        for step in frame.steps:
            addr = frame.address(step.id)
            if step.id in tasks or rt.statuses.peek(addr).state in TERMINAL:
                continue
            deps = [
                scheduler.dep_state(rt.statuses.peek(frame.address(d))) for d in step.depends_on
            ]
            if any(d not in TERMINAL for d in deps):
                continue
            if stopping and step.run_if != "all_done":
                rt.set_state(addr, "skipped")
                progressed = True
            elif not scheduler.run_if_allows(step.run_if, deps):
                rt.set_state(addr, "skipped")
                progressed = True
            else:
                rt.log.append(("start", step.id))
                tasks[step.id] = FakeTask()


def random_frame(rng: random.Random) -> Frame:
    n = rng.randint(1, 12)
    steps = []
    for i in range(n):
        deps = sorted(rng.sample(range(n), rng.randint(0, min(3, n - 1))))
        deps = [f"s{d}" for d in deps if d != i]
        steps.append(
            ActionStep.model_validate(
                {"id": f"s{i}", "action": "x", "depends_on": deps, "run_if": rng.choice(RUN_IFS)}
            )
        )
    # keep it acyclic: only depend on earlier steps in a random permutation of the file
    order = list(range(n))
    rng.shuffle(order)
    rank = {f"s{i}": r for r, i in enumerate(order)}
    for s in steps:
        s.depends_on = [d for d in s.depends_on if rank[d] < rank[s.id]]
    return Frame(steps=steps)


@pytest.mark.parametrize("seed", range(300))
def test_same_order_as_the_rescans(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(seed)
    frame = random_frame(rng)
    outcomes = {
        s.id: rng.choice(["succeeded", "succeeded", "failed", "skipped"]) for s in frame.steps
    }
    stop_after = rng.randint(0, 4)

    ref_log: list[Any] = []
    ref = FakeRt(ref_log)
    new_log: list[Any] = []
    new = FakeRt(new_log)
    for rt in (ref, new):
        for s in frame.steps:
            rt.statuses.register(frame.address(s.id))

    started: dict[str, FakeTask] = {}

    def fake_run_step(rt: Any, fr: Frame, step: Any) -> str:
        new_log.append(("start", step.id))
        return step.id

    def fake_create_task(sid: str) -> FakeTask:
        started[sid] = FakeTask()
        return started[sid]

    monkeypatch.setattr(scheduler, "run_step", fake_run_step)
    monkeypatch.setattr(scheduler.asyncio, "create_task", fake_create_task)

    dag = scheduler._Dag(new, frame)  # type: ignore[arg-type]
    ref_tasks: dict[str, Any] = {}
    for wake in range(40):
        stopping = wake >= stop_after
        reference_start_ready(ref, frame, ref_tasks, stopping)
        start, _ = dag.start_ready(stopping=stopping, cancelled=False)
        for i in start:
            dag.spawn(i)
        # skips are applied during the pass, tasks are created after it (either way a
        # started step's code runs after the pass): compare each sequence on its own
        for what in ("state", "start"):
            assert [e for e in new_log if e[0] == what] == [e for e in ref_log if e[0] == what]
        running = [sid for sid, t in ref_tasks.items() if not t.finished]
        if not running:
            break
        # finish a random subset of the running steps, on both sides alike
        for sid in rng.sample(running, rng.randint(1, len(running))):
            for rt in (ref, new):
                rt.statuses[sid].state = outcomes[sid]
            ref_tasks[sid].finished = True
            started[sid].finished = True
        dag.collect()
    assert not [t for t in ref_tasks.values() if not t.finished]
