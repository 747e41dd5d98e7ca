"""Engine overhead: the same DAGs as relayflow templates and as hand-written workflows.

Both sides run on one dev server and one in-process worker (same settings, same
`noop` activity), in interleaved batches A/B, B/A, A/B … so drift in machine load
hits both alike. Per side and shape: throughput (runs / wall second of the
batches), end-to-end latency p50/p99 (start call → result, at `concurrency`
runs in flight), client+worker CPU per run (this process's rusage), dev-server
CPU per run, and the history event count of sampled runs.
"""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle

from bench import harness
from bench.common import event_histogram, history_events, pid_cpu, process_cpu, summary_ms
from bench.dags import SHAPES

Starter = Callable[[str], Awaitable[WorkflowHandle[Any, Any]]]
SIDES = ("relayflow", "handwritten")


@dataclass
class SideStats:
    runs: int = 0
    failed: int = 0
    wall: float = 0.0
    cpu: float = 0.0
    server_cpu: float = 0.0
    latencies: list[float] = field(default_factory=list)
    batch_tput: list[float] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)

    def report(self) -> dict[str, Any]:
        return {
            "runs": self.runs,
            "failed": self.failed,
            "runs_per_s": self.runs / self.wall if self.wall else float("nan"),
            "cpu_ms_per_run": 1000 * self.cpu / self.runs if self.runs else float("nan"),
            "server_cpu_ms_per_run": 1000 * self.server_cpu / self.runs if self.runs else 0.0,
            **summary_ms(self.latencies),
        }


RUN_TIMEOUT = 300.0  # a run that never finishes counts as failed instead of hanging the bench


async def one_run(start: Starter, run_id: str) -> tuple[float, bool]:
    t0 = time.perf_counter()
    try:
        handle = await start(run_id)
        await asyncio.wait_for(handle.result(), RUN_TIMEOUT)
        ok = True
    except Exception:  # noqa: BLE001 - counted as a failed run
        ok = False
    return time.perf_counter() - t0, ok


async def batch(
    start: Starter, prefix: str, n: int, concurrency: int, stats: SideStats, server_pid: int | None
) -> None:
    """`n` runs, at most `concurrency` in flight; adds wall, CPU and latencies to `stats`."""
    ids = [f"{prefix}-{uuid.uuid4().hex[:12]}" for _ in range(n)]
    queue: asyncio.Queue[str] = asyncio.Queue()
    for i in ids:
        queue.put_nowait(i)
    results: list[tuple[float, bool]] = []

    async def lane() -> None:
        while not queue.empty():
            results.append(await one_run(start, queue.get_nowait()))

    s0 = pid_cpu(server_pid) if server_pid else 0.0
    c0, t0 = process_cpu(), time.perf_counter()
    await asyncio.gather(*(lane() for _ in range(min(concurrency, n))))
    wall, cpu = time.perf_counter() - t0, process_cpu() - c0
    stats.wall += wall
    stats.cpu += cpu
    stats.server_cpu += (pid_cpu(server_pid) - s0) if server_pid else 0.0
    stats.runs += n
    stats.failed += sum(1 for _, ok in results if not ok)
    stats.latencies += [lat for lat, _ in results]
    stats.batch_tput.append(n / wall)
    stats.ids += ids


WFT_EVENTS = {
    EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED,
}


async def history_of(client: Client, ids: list[str], sample: int) -> dict[str, Any]:
    """Event counts of `sample` runs: min/max, the events other than workflow-task ones
    (the same for every run of a shape: start, activities, completion) and a histogram."""
    counts, non_wft, first = [], set(), None
    for wid in ids[:sample]:
        types = await history_events(client, wid)
        counts.append(len(types))
        non_wft.add(sum(1 for t in types if t not in WFT_EVENTS))
        first = first or event_histogram(types)
    return {"min": min(counts), "max": max(counts), "non_wft": sorted(non_wft), "histogram": first}


async def measure_shape(
    rig: harness.Rig, shape: str, rounds: int, n: int, concurrency: int, history_sample: int = 5
) -> dict[str, Any]:
    doc, activities = SHAPES[shape]
    plan = harness.compile_doc(doc)
    client, tq = rig.client, rig.task_queue
    starters: dict[str, Starter] = {
        "relayflow": lambda rid: harness.start_relayflow(client, plan, tq, run_id=rid),
        "handwritten": lambda rid: harness.start_handwritten(client, shape, tq, run_id=rid),
    }
    warm = {side: SideStats() for side in SIDES}
    for side in SIDES:  # warm-up: sandbox module cache, server caches, task queue partitions
        await batch(starters[side], f"warm-{side}", max(2, n // 4), concurrency, warm[side], None)
    stats = {side: SideStats() for side in SIDES}
    for r in range(rounds):
        order = SIDES if r % 2 == 0 else SIDES[::-1]
        for side in order:
            await batch(starters[side], f"{side}-{shape}", n, concurrency, stats[side], rig.server_pid)
    out: dict[str, Any] = {
        "shape": shape, "activities": activities, "concurrency": concurrency, "runs_per_batch": n,
    }
    for side in SIDES:
        out[side] = stats[side].report()
        out[side]["history"] = await history_of(client, stats[side].ids, history_sample)
    rf, hw = out["relayflow"], out["handwritten"]
    out["throughput_ratio"] = rf["runs_per_s"] / hw["runs_per_s"]
    out["cpu_ratio"] = rf["cpu_ms_per_run"] / hw["cpu_ms_per_run"]
    out["p50_ratio"] = rf["p50_ms"] / hw["p50_ms"]
    out["round_throughput_ratios"] = [
        a / b for a, b in zip(stats["relayflow"].batch_tput, stats["handwritten"].batch_tput, strict=True)
    ]
    out["median_round_throughput_ratio"] = statistics.median(out["round_throughput_ratios"])
    # capacity on a CPU-bound box ~ 1 / (client+worker+server CPU per run): load-independent
    total = {side: out[side]["cpu_ms_per_run"] + out[side]["server_cpu_ms_per_run"] for side in SIDES}
    out["total_cpu_ratio"] = total["relayflow"] / total["handwritten"] if total["handwritten"] else float("nan")
    return out


def batch_size(activities: int, scale: float) -> int:
    """Runs per batch: about `scale` × 300 activities per batch, at least 2 waves of 10
    (one wave for the long linear-100)."""
    return max(20 if activities <= 20 else 10, round(scale * 300 / activities))


async def run(
    shapes: list[str] | None = None, rounds: int = 4, scale: float = 1.0, concurrency: int = 10
) -> dict[str, Any]:
    """The overhead bench on a fresh dev server; one result dict per shape."""
    results = []
    async with harness.rig() as rig:
        for shape in shapes or list(SHAPES):
            n = batch_size(SHAPES[shape][1], scale)
            res = await measure_shape(rig, shape, rounds, n, concurrency)
            results.append(res)
            print(
                f"  {shape:16s} tput ratio {res['throughput_ratio']:.3f}  cpu ratio "
                f"{res['cpu_ratio']:.3f}  events rf={res['relayflow']['history']['min']}"
                f"..{res['relayflow']['history']['max']} hw={res['handwritten']['history']['min']}"
                f"..{res['handwritten']['history']['max']}",
                flush=True,
            )
    return {"shapes": results, "rounds": rounds, "concurrency": concurrency}


if __name__ == "__main__":
    import json
    import sys

    quick = "--quick" in sys.argv
    res = asyncio.run(run(rounds=2 if quick else 4, scale=0.2 if quick else 1.0))
    print(json.dumps(res, indent=1, default=str)[:5000])
