"""`python -m bench.sidebyside SHAPE`: relayflow and the plain baseline at the same time,
each worker in a process of its own.

The overhead bench (section 1) runs the sides one batch after another in one process,
so a change of machine load between batches lands on one side only, and the sides share
one heap and one collector. Here both sides run **at once** against one dev server, with
`--concurrency` runs of each in flight; every `--seconds` the worker processes' CPU
(from /proc) and their runs completed are read: a round's CPU ratio compares work done
under the very same conditions. The client (this process) is not counted: it starts
both sides' runs. Each worker also reports its collector's CPU (`bench.sideworker`).

`--sides relayflow,relayflow` is the A/A check: how far two identical workers drift
apart (the method's own noise).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from temporalio.client import Client

from bench import harness, overhead
from bench.common import ROOT, pid_cpu
from bench.dags import SHAPES
from tests.helpers.temporal import start_dev_server


@dataclass
class Side:
    name: str
    label: str
    task_queue: str
    proc: subprocess.Popen[str]
    done: int = 0
    rounds: list[dict[str, float]] = field(default_factory=list)

    def gc(self) -> tuple[float, int]:
        """The worker's collector so far: (CPU seconds, collections)."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write("\n")
        self.proc.stdin.flush()
        _, seconds, count = self.proc.stdout.readline().split()
        return float(seconds), int(count)


def spawn(name: str, label: str, address: str, tuned_gc: bool) -> Side:
    tq = f"side-{name}-{uuid.uuid4().hex[:8]}"
    argv = [sys.executable, "-m", "bench.sideworker", name, address, tq]
    proc = subprocess.Popen(
        argv + (["--tuned-gc"] if tuned_gc else []),
        cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    assert proc.stdout is not None
    if proc.stdout.readline().strip() != "ready":
        raise RuntimeError(f"the {name} worker did not start")
    return Side(name, label, tq, proc)


async def load(client: Client, side: Side, shape: str, concurrency: int, stop: asyncio.Event) -> None:
    """Keep `concurrency` runs of `shape` in flight on `side` until `stop`."""
    plan = harness.compile_doc(SHAPES[shape][0]) if side.name == "relayflow" else None

    async def start(run_id: str) -> Any:
        if plan is not None:
            return await harness.start_relayflow(client, plan, side.task_queue, run_id)
        return await harness.start_plain(client, shape, side.task_queue, run_id)

    async def lane() -> None:
        while not stop.is_set():
            _, ok = await overhead.one_run(start, f"side-{side.name}-{uuid.uuid4()}")
            side.done += ok

    await asyncio.gather(*(lane() for _ in range(concurrency)))


async def run(
    shape: str, sides: list[str], rounds: int, seconds: float, concurrency: int,
    warmup: float = 8.0, tuned_gc: bool = False,
) -> dict[str, Any]:
    env = await start_dev_server()
    address = env.client.service_client.config.target_host
    labels = [sides[0], sides[1] if sides[1] != sides[0] else sides[1] + "#2"]
    running = [spawn(name, label, address, tuned_gc) for name, label in zip(sides, labels, strict=True)]
    stop = asyncio.Event()
    try:
        loads = [asyncio.create_task(load(env.client, s, shape, concurrency, stop)) for s in running]
        await asyncio.sleep(warmup)
        for _ in range(rounds):
            before = [(pid_cpu(s.proc.pid), s.done, s.gc()) for s in running]
            t0 = time.monotonic()
            await asyncio.sleep(seconds)
            wall = time.monotonic() - t0
            for s, (cpu0, done0, gc0) in zip(running, before, strict=True):
                runs = max(s.done - done0, 1)
                gc1 = s.gc()
                s.rounds.append({
                    "cpu_ms_per_run": 1000 * (pid_cpu(s.proc.pid) - cpu0) / runs,
                    "runs_per_s": (s.done - done0) / wall,
                    "gc_ms_per_run": 1000 * (gc1[0] - gc0[0]) / runs,
                })
        stop.set()
        await asyncio.gather(*loads)
    finally:
        for s in running:
            s.proc.kill()
        await env.shutdown()
    return summarize(shape, running, seconds, concurrency, tuned_gc)


def summarize(shape: str, sides: list[Side], seconds: float, concurrency: int, tuned_gc: bool) -> dict[str, Any]:
    a, b = sides
    ratios = {
        k: [ra[k] / rb[k] for ra, rb in zip(a.rounds, b.rounds, strict=True) if rb[k]]
        for k in ("cpu_ms_per_run", "runs_per_s")
    }
    return {
        "shape": shape,
        "sides": [a.label, b.label],
        "rounds": len(a.rounds),
        "seconds_per_round": seconds,
        "concurrency_per_side": concurrency,
        "plain_gc": "tuned" if tuned_gc else "Python's default",
        "per_side": {
            s.label: {k: statistics.median(r[k] for r in s.rounds) for k in s.rounds[0]} for s in sides
        },
        "cpu_ratio": {"median": statistics.median(ratios["cpu_ms_per_run"]),
                      "min": min(ratios["cpu_ms_per_run"]), "max": max(ratios["cpu_ms_per_run"])},
        "throughput_ratio": {"median": statistics.median(ratios["runs_per_s"]),
                             "min": min(ratios["runs_per_s"]), "max": max(ratios["runs_per_s"])},
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.sidebyside", description=__doc__)
    parser.add_argument("shape", choices=sorted(SHAPES))
    parser.add_argument("--sides", default="relayflow,plain", help="two of relayflow, plain")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=10, help="runs in flight per side")
    parser.add_argument("--tuned-gc", action="store_true", help="tune the plain worker's collector too")
    args = parser.parse_args(argv)
    sides = args.sides.split(",")
    if len(sides) != 2 or not set(sides) <= {"relayflow", "plain"}:
        parser.error("--sides takes two of: relayflow, plain")
    logging.basicConfig(level=logging.WARNING)
    res = asyncio.run(run(args.shape, sides, args.rounds, args.seconds, args.concurrency, tuned_gc=args.tuned_gc))
    for name, v in res["per_side"].items():
        print(f"{name:12s} {v['cpu_ms_per_run']:7.2f} ms CPU/run  {v['runs_per_s']:6.2f} runs/s  "
              f"collector {v['gc_ms_per_run']:.2f} ms/run")
    c, t = res["cpu_ratio"], res["throughput_ratio"]
    print(f"{res['shape']} {'/'.join(res['sides'])}: CPU ratio {c['median']:.3f} ({c['min']:.3f}–{c['max']:.3f}), "
          f"throughput ratio {t['median']:.3f} ({t['min']:.3f}–{t['max']:.3f}); {res['rounds']} rounds × "
          f"{res['seconds_per_round']:.0f} s, plain collector: {res['plain_gc']}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
