"""`bench.steplat`: per-step gaps and worker identities from history events (no server)."""

from __future__ import annotations

import pytest

from bench import steplat
from bench.overhead import rotation
from bench.steplat import ACT_STARTED, COMPLETED, SCHEDULED, STARTED, Ev


def linear_history(t0: float, react: float, dispatch: float, execute: float, n: int) -> list[Ev]:
    events = [Ev(1, STARTED, t0)]
    t, eid = t0, 2
    for i in range(n):
        t += react
        sched = eid
        events.append(Ev(eid, SCHEDULED, t))
        t += dispatch
        events.append(Ev(eid + 1, ACT_STARTED, t, sched, f"w{i % 2}"))
        t += execute
        events.append(Ev(eid + 2, COMPLETED, t, sched))
        eid += 3
    return events


def test_gaps_of_a_linear_run() -> None:
    g = steplat.StepGaps()
    g.add(linear_history(100.0, 0.010, 0.002, 0.005, 4))
    s = g.summary()
    assert s["steps"] == 4
    assert s["react_p50_ms"] == pytest.approx(10.0)
    assert s["dispatch_p99_ms"] == pytest.approx(2.0)
    assert s["exec_p50_ms"] == pytest.approx(5.0)
    assert s["step_p50_ms"] == pytest.approx(17.0)
    assert g.identities == {"w0": 2, "w1": 2}


def test_parallel_steps_react_to_the_latest_completion() -> None:
    # a; then b and c scheduled together; d after both completions
    ev = [
        Ev(1, STARTED, 0.0), Ev(2, SCHEDULED, 0.1), Ev(3, ACT_STARTED, 0.2, 2), Ev(4, COMPLETED, 0.3, 2),
        Ev(5, SCHEDULED, 0.4), Ev(6, SCHEDULED, 0.4), Ev(7, ACT_STARTED, 0.5, 5),
        Ev(8, ACT_STARTED, 0.5, 6), Ev(9, COMPLETED, 0.6, 5), Ev(10, COMPLETED, 0.9, 6),
        Ev(11, SCHEDULED, 1.0), Ev(12, ACT_STARTED, 1.1, 11), Ev(13, COMPLETED, 1.2, 11),
    ]
    g = steplat.StepGaps()
    g.add(ev)
    assert g.gaps["react"] == pytest.approx([0.1, 0.1, 0.1, 0.1])
    assert sorted(g.gaps["exec"]) == pytest.approx([0.1, 0.1, 0.1, 0.4])


def test_added_is_side_minus_base() -> None:
    a, b = steplat.StepGaps(), steplat.StepGaps()
    a.add(linear_history(0.0, 0.012, 0.002, 0.006, 3))
    b.add(linear_history(0.0, 0.010, 0.002, 0.005, 3))
    added = steplat.added(a.summary(), b.summary())
    assert added["react_p50_ms"] == pytest.approx(2.0)
    assert added["step_p99_ms"] == pytest.approx(3.0)


def test_rotation_puts_every_side_first_once() -> None:
    sides = ("a", "b", "c")
    orders = [rotation(sides, r) for r in range(3)]
    assert orders == [("a", "b", "c"), ("b", "c", "a"), ("c", "a", "b")]
    assert rotation(sides, 4) == ("b", "c", "a")
