"""`python -m bench`'s section plumbing and the new sections' pure parts (no servers, no timing)."""

from __future__ import annotations

import json
import sys

import pytest

from bench import __main__ as bench_main
from bench import api_latency, scaleout, slots, startsize


def test_every_section_has_a_quick_and_a_full_plan() -> None:
    names = set(bench_main.SECTIONS) | set(bench_main.LONG_SECTIONS)
    assert set(bench_main.plan(quick=True)) == names
    assert set(bench_main.plan(quick=False)) == names


def test_long_sections_run_only_when_asked() -> None:
    assert "bigfan" not in bench_main.chosen("", long=False)
    assert bench_main.chosen("", long=True)[-1] == "bigfan"
    assert bench_main.chosen("bigfan", long=False) == ["bigfan"]
    assert bench_main.chosen("scaleout, startsize", long=False) == ["scaleout", "startsize"]


async def test_bigfan_is_skipped_when_its_module_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "bench.bigfan", None)  # import fails as if the file were absent
    res = await bench_main.bigfan(quick=True)
    assert "not available" in res["skipped"]


def test_start_input_breakdown_and_step_count() -> None:
    data = json.dumps({"plan": {"steps": [1, 2]}, "input": {"a": 1}}).encode()
    assert startsize.breakdown(data) == {"plan": len('{"steps":[1,2]}'), "input": len('{"a":1}')}
    doc = {"steps": [{"id": "a"}, {"id": "b", "parallel": {"steps": [{"id": "c"}]}}]}
    assert startsize.step_count(doc) == 3


def test_slot_settings_resolve_the_sdk_defaults() -> None:
    found = slots.slot_settings()
    assert isinstance(found["max_concurrent_activities"]["sdk_default"], int)
    assert isinstance(found["max_concurrent_workflow_tasks"]["sdk_default"], int)
    assert isinstance(found["max_concurrent_workflow_task_polls"]["sdk_default"], int)


def _lat(n: int = 5, **extra: object) -> dict[str, object]:
    return {"n": n, "p50_ms": 1.0, "p99_ms": 2.0, "mean_ms": 1.2, "max_ms": 3.0, "errors": 0, **extra}


def test_reports_render() -> None:
    r = {
        "open_runs": 10, "all_waiting": True, "fill_seconds": 1.0,
        "post_runs_1_client": _lat(clients=1, runs_per_s=5.0),
        "post_runs_50_clients": _lat(clients=50, runs_per_s=9.0),
        "get_run_1": _lat(clients=1), "get_run_10": _lat(clients=10),
        "inbox_1": _lat(clients=1, items=10), "inbox_10": _lat(clients=10, items=10),
    }
    assert "`GET /inbox`" in "\n".join(api_latency.report(r))
    one = {
        "shape": "io", "workers": 1, "runs_per_s": 2.0, "p50_ms": 1.0, "p99_ms": 2.0,
        "worker_cpu_ms_per_run": 3.0, "worker_busy": {"worker-1": 0.5}, "server_busy": 0.2,
        "client_busy": 0.1, "failed": 0, "spread": {"activity_tasks": {"worker-1": 6}},
    }
    s = {
        "slots": slots.slot_settings(), "io_steps": 3, "io_delay_s": 0.2, "cpu_shape": "linear-20 noop",
        "inflight": {"io": 60, "cpu": 20}, "nproc": 2, "results": [one],
        "kill": {
            "runs": 4, "completed": 4, "lost": 0, "stuck": 0, "effects_seen": 12, "expected_effects": 12,
            "deliveries_per_key": {1: 12}, "redelivered": 0, "duplicated_after_completion": 0,
            "seconds": 1.0, "events": ["0.1s SIGKILL worker-2"], "spread": {"activity_tasks": {"worker-1": 12}},
        },
    }
    text = "\n".join(scaleout.report(s))
    assert "worker-1: 6" in text and "SIGKILL" in text
