"""The side-by-side bench (`python -m bench.sidebyside`) on tiny counts: both workers run
in processes of their own, complete runs in every round and report their collector.

Ratios are measured by the bench, never asserted here (too noisy on shared CI).
"""

from __future__ import annotations

import math

import pytest

from bench import sidebyside

pytestmark = pytest.mark.timeout(120)


async def test_both_sides_run_at_once_in_their_own_processes() -> None:
    res = await sidebyside.run("linear-1", ["relayflow", "plain"], rounds=2, seconds=2.0, concurrency=2, warmup=2.0)
    assert res["sides"] == ["relayflow", "plain"] and res["rounds"] == 2
    for side in ("relayflow", "plain"):
        figures = res["per_side"][side]
        assert figures["runs_per_s"] > 0 and figures["cpu_ms_per_run"] > 0
        assert figures["gc_ms_per_run"] >= 0
    for ratio in ("cpu_ratio", "throughput_ratio"):
        r = res[ratio]
        assert all(math.isfinite(r[k]) and r[k] > 0 for k in ("median", "min", "max"))
        assert r["min"] <= r["median"] <= r["max"]


def test_the_a_a_check_keeps_its_two_relayflow_workers_apart() -> None:
    rounds = [{"cpu_ms_per_run": 10.0, "runs_per_s": 5.0, "gc_ms_per_run": 0.5}]
    slower = [{"cpu_ms_per_run": 12.5, "runs_per_s": 4.0, "gc_ms_per_run": 0.5}]
    a = sidebyside.Side("relayflow", "relayflow", "tq-a", None, rounds=rounds)  # type: ignore[arg-type]
    b = sidebyside.Side("relayflow", "relayflow#2", "tq-b", None, rounds=slower)  # type: ignore[arg-type]
    res = sidebyside.summarize("linear-1", [a, b], 10.0, 10, False)
    assert set(res["per_side"]) == {"relayflow", "relayflow#2"}
    assert res["cpu_ratio"]["median"] == pytest.approx(0.8)
    assert res["throughput_ratio"]["median"] == pytest.approx(1.25)


def test_unknown_sides_are_refused() -> None:
    with pytest.raises(SystemExit) as exc:
        sidebyside.main(["linear-1", "--sides", "relayflow,nope"])
    assert exc.value.code == 2
