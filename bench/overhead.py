"""Engine overhead: the same DAGs as relayflow templates and as hand-written workflows.

Three sides on one dev server, one client, in this one process:

- `relayflow`: the template, started as `POST /runs` starts it, on the relayflow worker;
- `handwritten` (the *wrapped* baseline, `bench.handwritten`): hand-written workflows on
  the same relayflow worker (its `AttemptInterceptor`) calling the relayflow-wrapped
  `noop` action with the interpreter's `ActionRequest`;
- `plain` (the *plain* baseline, `bench.plain`): hand-written workflows calling a bare
  ``@activity.defn`` on a default `Worker` (no interceptor, no wrapper) on its own queue.

Batches rotate the order every round (A B C, B C A, C A B, …) so drift in machine
load hits every side alike. Per side and shape: throughput (runs / wall second of
the batches), end-to-end latency p50/p99 (start call → result, at `concurrency`
runs in flight), client+worker CPU per run (this process's rusage: both workers),
dev-server CPU per run, history event counts of sampled runs, and per-step gaps
from those histories (`bench.steplat`).
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

from bench import harness, steplat
from bench.common import event_histogram, pid_cpu, process_cpu, summary_ms
from bench.dags import SHAPES

Starter = Callable[[str], Awaitable[WorkflowHandle[Any, Any]]]
SIDES = ("relayflow", "handwritten", "plain")
#: (side, baseline) pairs the report compares
PAIRS = (("relayflow", "plain"), ("relayflow", "handwritten"), ("handwritten", "plain"))


def rotation(sides: tuple[str, ...], r: int) -> tuple[str, ...]:
    """The batch order of round `r`: the sides rotated left by `r` (A B C, B C A, C A B …)."""
    k = r % len(sides)
    return sides[k:] + sides[:k]


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


async def history_of(client: Client, ids: list[str], sample: int, min_steps: int = 0) -> dict[str, Any]:
    """Event counts of `sample` runs: min/max, the events other than workflow-task ones
    (the same for every run of a shape: start, activities, completion) and a histogram;
    per-step gaps (`bench.steplat`) of those runs — and of more runs, up to all of `ids`,
    until `min_steps` steps are sampled."""
    counts, non_wft, hists = [], set(), []
    gaps = steplat.StepGaps()
    for i, wid in enumerate(ids):
        if i >= sample and len(gaps.gaps["step"]) >= min_steps:
            break
        history = await client.get_workflow_handle(wid).fetch_history()
        types = [e.event_type for e in history.events]
        gaps.add(steplat.from_history(list(history.events)))
        if i >= sample:
            continue
        counts.append(len(types))
        non_wft.add(sum(1 for t in types if t not in WFT_EVENTS))
        hists.append(event_histogram(types))
    names = sorted({k for h in hists for k in h})
    ranges = {k: (min(h.get(k, 0) for h in hists), max(h.get(k, 0) for h in hists)) for k in names}
    return {
        "min": min(counts), "max": max(counts), "non_wft": sorted(non_wft), "histogram": hists[0],
        # event types whose count differs between the sampled runs (e.g. a workflow task
        # timed out on an overloaded machine): name → [min, max]
        "varying": {k: list(v) for k, v in ranges.items() if v[0] != v[1]},
        "step_gaps": gaps.summary(),
    }


def compare(out: dict[str, Any], stats: dict[str, SideStats], side: str, base: str) -> dict[str, Any]:
    """`side` against `base`: throughput and CPU ratios (overall and per round), added latency."""
    a, b = out[side], out[base]
    acts = out["activities"]
    rounds = [x / y for x, y in zip(stats[side].batch_tput, stats[base].batch_tput, strict=True)]
    total = {k: out[k]["cpu_ms_per_run"] + out[k]["server_cpu_ms_per_run"] for k in (side, base)}
    return {
        "throughput_ratio": a["runs_per_s"] / b["runs_per_s"],
        "cpu_ratio": a["cpu_ms_per_run"] / b["cpu_ms_per_run"],
        "p50_ratio": a["p50_ms"] / b["p50_ms"],
        "round_throughput_ratios": rounds,
        "median_round_throughput_ratio": statistics.median(rounds),
        # capacity on a CPU-bound box ~ 1 / (client+worker+server CPU per run): load-independent
        "total_cpu_ratio": total[side] / total[base] if total[base] else float("nan"),
        # per-step added latency from run latencies (start call → result, under load)
        "run_added_p50_ms_per_step": (a["p50_ms"] - b["p50_ms"]) / acts,
        "run_added_p99_ms_per_step": (a["p99_ms"] - b["p99_ms"]) / acts,
        # per-step added latency from the histories' event times (`bench.steplat`)
        "step_added": steplat.added(a["history"]["step_gaps"], b["history"]["step_gaps"]),
        "history_equal": (a["history"]["min"], a["history"]["max"]) == (b["history"]["min"], b["history"]["max"]),
        "non_wft_equal": a["history"]["non_wft"] == b["history"]["non_wft"],
    }


async def measure_shape(
    rig: harness.Rig, shape: str, rounds: int, n: int, concurrency: int, history_sample: int = 5,
    step_sample: int = 200, sides: tuple[str, ...] = SIDES,
) -> dict[str, Any]:
    doc, activities = SHAPES[shape]
    plan = harness.compile_doc(doc)
    client, tq, ptq = rig.client, rig.task_queue, rig.plain_task_queue
    if "plain" in sides and ptq is None:
        raise ValueError("the plain side needs harness.rig(plain_worker=True)")
    starters: dict[str, Starter] = {
        "relayflow": lambda rid: harness.start_relayflow(client, plan, tq, run_id=rid),
        "handwritten": lambda rid: harness.start_handwritten(client, shape, tq, run_id=rid),
        "plain": lambda rid: harness.start_plain(client, shape, ptq or "", run_id=rid),
    }
    warm = {side: SideStats() for side in sides}
    for side in sides:  # warm-up: sandbox module cache, server caches, task queue partitions
        await batch(starters[side], f"warm-{side}", max(2, n // 4), concurrency, warm[side], None)
    stats = {side: SideStats() for side in sides}
    for r in range(rounds):
        for side in rotation(sides, r):
            await batch(starters[side], f"{side}-{shape}", n, concurrency, stats[side], rig.server_pid)
    out: dict[str, Any] = {
        "shape": shape, "activities": activities, "concurrency": concurrency, "runs_per_batch": n,
        "sides": list(sides),
    }
    for side in sides:
        out[side] = stats[side].report()
        out[side]["history"] = await history_of(client, stats[side].ids, history_sample, step_sample)
    out["vs"] = {f"{a}/{b}": compare(out, stats, a, b) for a, b in PAIRS if a in sides and b in sides}
    # the original two-sided fields (relayflow / wrapped hand-written), as before
    if "relayflow/handwritten" in out["vs"]:
        out.update({k: v for k, v in out["vs"]["relayflow/handwritten"].items() if k != "step_added"})
    return out


#: the shape the unloaded (one run at a time) per-step latency is measured on
UNLOADED_SHAPE = "linear-20"


def batch_size(activities: int, scale: float, floor: int | None = None) -> int:
    """Runs per batch: about `scale` × 300 activities per batch, at least 2 waves of 10
    (one wave for the long linear-100); `floor` overrides that minimum (smoke runs)."""
    if floor is None:
        floor = 20 if activities <= 20 else 10
    elif activities > 20:
        floor = max(2, floor // 3)
    return max(floor, round(scale * 300 / activities))


async def run(
    shapes: list[str] | None = None, rounds: int = 4, scale: float = 1.0, concurrency: int = 10,
    floor: int | None = None, unloaded_runs: int = 4,
) -> dict[str, Any]:
    """The overhead bench on a fresh dev server; one result dict per shape, then the
    unloaded per-step latency (`UNLOADED_SHAPE`, one run at a time, `unloaded_runs` per
    side and round, 2 rounds)."""
    results = []
    async with harness.rig(plain_worker=True) as rig:
        for shape in shapes or list(SHAPES):
            n = batch_size(SHAPES[shape][1], scale, floor)
            res = await measure_shape(rig, shape, rounds, n, concurrency)
            results.append(res)
            vp, vw = res["vs"]["relayflow/plain"], res["vs"]["relayflow/handwritten"]
            print(
                f"  {shape:16s} vs plain: tput {vp['throughput_ratio']:.3f} cpu {vp['cpu_ratio']:.3f} "
                f"step+{vp['step_added']['step_p50_ms']:.2f}ms | vs wrapped: tput "
                f"{vw['throughput_ratio']:.3f} cpu {vw['cpu_ratio']:.3f} | events "
                + " ".join(f"{s[:2]}={res[s]['history']['min']}..{res[s]['history']['max']}" for s in SIDES),
                flush=True,
            )
        # per-step latency without queueing: one run in flight, the histories' event times
        unloaded = await measure_shape(
            rig, UNLOADED_SHAPE, rounds=2, n=unloaded_runs, concurrency=1,
            history_sample=2, step_sample=10_000,
        )
        a = unloaded["vs"]["relayflow/plain"]["step_added"]
        print(f"  unloaded {UNLOADED_SHAPE}: step added p50 {a['step_p50_ms']:.2f} ms p99 {a['step_p99_ms']:.2f} ms", flush=True)
    return {"shapes": results, "rounds": rounds, "concurrency": concurrency, "unloaded": unloaded}


if __name__ == "__main__":
    import json
    import sys

    quick = "--quick" in sys.argv
    res = asyncio.run(run(rounds=2 if quick else 4, scale=0.2 if quick else 1.0))
    print(json.dumps(res, indent=1, default=str)[:5000])
