"""Scale-out: throughput with 1, 2 and 4 worker *processes* against one dev server.

Workers are `python -m bench.scaleworker` (= `worker.py` plus the bench's `noop`
action), all polling one task queue, with the production worker's settings (the
SDK's default slots unless `worker.py` sets them: reported). Two shapes:

- **io**: `IO_STEPS` linear `http` steps, each POSTing to a local receiver that answers
  after `IO_DELAY` s (the run waits on I/O; the worker's slots and the event loop
  matter, not its CPU);
- **cpu**: `linear-20` of `noop` (the engine's own CPU per step is the work).

Per size and shape: runs/s over a closed loop of `n` runs with a fixed number in
flight, latency p50/p99, CPU seconds of each worker, the server and this client
process, and the spread of work: ActivityTaskStarted (and WorkflowTaskStarted)
identities counted in the runs' histories. Workers are added 1 → 2 → 4 on the same
server; then two are stopped and one of the remaining two is SIGKILLed mid-load
(io shape): every run must complete, and every step's side effect reach the
receiver once — extra deliveries are attempts the kill cut short, retried under
the same Idempotency-Key (at-least-once), and are counted; none may come after
Temporal recorded that activity completed.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import tempfile
import time
import uuid
from collections import Counter
from functools import partial
from pathlib import Path
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from bench import harness
from bench.common import bounded, child_pids, free_port, pid_cpu, process_cpu, summary_ms
from bench.dags import linear
from bench.effects import verify
from bench.faults import fault_template
from bench.procs import Proc, Receiver, relayflow_env
from bench.slots import slot_settings
from tests.helpers.temporal import start_dev_server

log = logging.getLogger("bench.scaleout")
IO_STEPS, IO_DELAY = 3, 0.2
SIZES = (1, 2, 4)
READY = "worker polling task queue"


def io_template(url: str, steps: int = IO_STEPS) -> dict[str, Any]:
    """`steps` linear `http` POSTs to the receiver (the fault bench's shape, retrying soon
    after a killed attempt)."""
    return fault_template(url, steps, name="bench-scale-io")


class BenchWorker(Proc):
    """One `python -m bench.scaleworker` process on the shared task queue."""

    def __init__(self, index: int, address: str, task_queue: str, workdir: Path) -> None:
        env = relayflow_env(address, task_queue, WORKER_METRICS_PORT=str(free_port()))
        self.index = index
        super().__init__(f"worker-{index}", [sys.executable, "-m", "bench.scaleworker"], env,
                         workdir / f"worker-{index}.log")

    async def ready(self, timeout: float = 120.0) -> None:
        """Wait for the worker's 'polling' log line."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}; see {self.log}")
            if self.log.exists() and READY in self.log.read_text(errors="replace"):
                return
            await asyncio.sleep(0.2)
        raise RuntimeError(f"{self.name} not polling after {timeout:.0f}s; see {self.log}")


async def closed_loop(client: Client, plan: Any, tq: str, prefix: str, n: int, inflight: int) -> tuple[list[str], list[float], int]:
    """`n` runs, `inflight` at a time, each waited for: (ids, latencies, failures)."""
    ids = [f"{prefix}-{i:05d}-{uuid.uuid4().hex[:6]}" for i in range(n)]
    lat: list[float] = []
    failed = 0

    async def one(rid: str) -> None:
        nonlocal failed
        t0 = time.perf_counter()
        try:
            handle = await harness.start_relayflow(client, plan, tq, run_id=rid)
            await asyncio.wait_for(handle.result(), 300)
        except Exception:  # noqa: BLE001 - counted
            failed += 1
            return
        lat.append(time.perf_counter() - t0)

    await bounded([partial(one, r) for r in ids], inflight)
    return ids, lat, failed


async def spread(client: Client, ids: list[str], workers: list[BenchWorker], sample: int) -> dict[str, Any]:
    """Activity / workflow task starts per worker (by identity `pid@host`) in `sample` runs."""
    acts: Counter[str] = Counter()
    wfts: Counter[str] = Counter()
    names = {}
    for w in workers:
        if w.proc is not None:
            names[str(w.proc.pid)] = w.name

    def who(identity: str) -> str:
        return names.get(identity.split("@", 1)[0], identity or "?")

    async def one(rid: str) -> None:
        history = await client.get_workflow_handle(rid).fetch_history()
        for e in history.events:
            if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
                acts[who(e.activity_task_started_event_attributes.identity)] += 1
            elif e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED:
                wfts[who(e.workflow_task_started_event_attributes.identity)] += 1

    await bounded([partial(one, r) for r in ids[:sample]], 10)
    return {"runs_sampled": min(sample, len(ids)), "activity_tasks": dict(acts), "workflow_tasks": dict(wfts)}


async def measure(
    client: Client, plan: Any, tq: str, shape: str, n: int, inflight: int,
    workers: list[BenchWorker], server_pid: int | None, sample: int,
) -> dict[str, Any]:
    live = [w for w in workers if w.pid is not None]
    await closed_loop(client, plan, tq, f"warm-{shape}-{len(live)}", max(2, min(n // 4, inflight // 4)), inflight)
    w0 = {w.name: pid_cpu(w.pid or 0) for w in live}
    s0, c0, t0 = pid_cpu(server_pid) if server_pid else 0.0, process_cpu(), time.perf_counter()
    ids, lat, failed = await closed_loop(client, plan, tq, f"{shape}-{len(live)}", n, inflight)
    wall = time.perf_counter() - t0
    cpu = {w.name: pid_cpu(w.pid or 0) - w0[w.name] for w in live}
    res = {
        "shape": shape, "workers": len(live), "runs": n, "inflight": inflight, "failed": failed,
        "seconds": wall, "runs_per_s": n / wall, **summary_ms(lat),
        "worker_cpu_s": cpu, "worker_cpu_ms_per_run": 1000 * sum(cpu.values()) / n,
        "worker_busy": {k: v / wall for k, v in cpu.items()},  # cores used, per worker
        "server_cpu_ms_per_run": 1000 * ((pid_cpu(server_pid) - s0) if server_pid else 0.0) / n,
        "server_busy": ((pid_cpu(server_pid) - s0) / wall) if server_pid else 0.0,
        "client_busy": (process_cpu() - c0) / wall,
    }
    res["spread"] = await spread(client, ids, workers, sample)
    log.warning("scaleout %s x%d: %.1f runs/s p50 %.0f ms", shape, len(live), res["runs_per_s"], res["p50_ms"])
    return res


async def kill_one_of_two(
    client: Client, plan: Any, tq: str, receiver: Receiver, workers: list[BenchWorker], n: int, inflight: int,
) -> dict[str, Any]:
    """n io runs on two workers; SIGKILL one after a third of the deliveries; verify."""
    victim = workers[1]
    ids = [f"kill-{i:05d}-{uuid.uuid4().hex[:6]}" for i in range(n)]
    prefixes = set(ids)
    events: list[str] = []
    t0 = time.monotonic()

    def mine() -> dict[str, list[float]]:
        return {k: v for k, v in receiver.snapshot().items() if k.split("/", 1)[0] in prefixes}

    async def killer() -> None:
        while sum(len(v) for v in mine().values()) < n * IO_STEPS // 3:
            await asyncio.sleep(0.05)
        victim.kill(signal.SIGKILL)
        events.append(f"{time.monotonic() - t0:.1f}s SIGKILL {victim.name} "
                      f"({sum(len(v) for v in mine().values())} deliveries so far)")

    async def one(rid: str) -> None:
        handle = await harness.start_relayflow(client, plan, tq, run_id=rid)
        try:
            await asyncio.wait_for(handle.result(), 120)
        except Exception:  # noqa: BLE001 - verify() reports the run's status
            pass

    kill = asyncio.create_task(killer())
    await bounded([partial(one, r) for r in ids], inflight)
    if not kill.done():
        kill.cancel()
    events.append(f"{time.monotonic() - t0:.1f}s all runs returned")
    arrivals = mine()
    res = await verify(client, ids, arrivals)
    per_key = Counter(len(v) for v in arrivals.values())
    res.update(
        seconds=round(time.monotonic() - t0, 1), events=events, expected_effects=n * IO_STEPS,
        effects_seen=len(arrivals), deliveries_per_key=dict(sorted(per_key.items())),
        spread=await spread(client, ids, workers, n),
    )
    return res


async def run(quick: bool = False) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="relayflow-bench-scaleout-"))
    os.environ.setdefault("EGRESS_ALLOW", "127.0.0.1")  # the template checks run in this process too
    n_io, n_cpu, n_kill = (24, 8, 30) if quick else (150, 50, 120)
    in_io, in_cpu = 60, 20
    env = await start_dev_server()
    client = env.client
    server = child_pids("temporal")
    server_pid = server[0] if server else None
    tq = f"bench-scale-{uuid.uuid4().hex[:8]}"
    address = client.service_client.config.target_host
    workers = [BenchWorker(i + 1, address, tq, workdir) for i in range(max(SIZES))]
    out: dict[str, Any] = {
        "slots": slot_settings(), "io_steps": IO_STEPS, "io_delay_s": IO_DELAY,
        "cpu_shape": "linear-20 noop", "inflight": {"io": in_io, "cpu": in_cpu},
        "nproc": os.cpu_count(), "results": [],
    }
    try:
        with Receiver(IO_DELAY) as receiver:
            plans = {"io": harness.compile_doc(io_template(receiver.url)), "cpu": harness.compile_doc(linear(20))}
            for size in SIZES:
                for w in workers[:size]:
                    if w.pid is None:
                        w.start()
                await asyncio.gather(*(w.ready() for w in workers[:size]))
                for shape, n, inflight in (("io", n_io, in_io), ("cpu", n_cpu, in_cpu)):
                    out["results"].append(await measure(
                        client, plans[shape], tq, shape, n, inflight, workers[:size], server_pid,
                        sample=20 if quick else 40,
                    ))
            for w in workers[2:]:
                w.stop()
            out["kill"] = await kill_one_of_two(client, plans["io"], tq, receiver, workers[:2], n_kill, in_io)
    finally:
        for w in workers:
            w.stop()
        await env.shutdown()
    return out


def report(res: dict[str, Any]) -> list[str]:
    slots = res["slots"]
    rows = ["| workers | shape | runs/s | p50 / p99 ms | worker CPU ms/run | cores used: workers (each) / server / client | activity tasks per worker | failed |",
            "|---|---|---|---|---|---|---|---|"]
    base: dict[str, float] = {}
    for r in res["results"]:
        base.setdefault(r["shape"], r["runs_per_s"])
        each = ", ".join(f"{v:.2f}" for v in r["worker_busy"].values())
        acts = r["spread"]["activity_tasks"]
        rows.append(
            f"| {r['workers']} | {r['shape']} | {r['runs_per_s']:.1f} (×{r['runs_per_s'] / base[r['shape']]:.2f}) | "
            f"{r['p50_ms']:.0f} / {r['p99_ms']:.0f} | {r['worker_cpu_ms_per_run']:.1f} | "
            f"{sum(r['worker_busy'].values()):.2f} ({each}) / {r['server_busy']:.2f} / {r['client_busy']:.2f} | "
            + ", ".join(f"{k}: {v}" for k, v in sorted(acts.items())) + f" | {r['failed']} |"
        )
    def slot(k: str, v: dict[str, Any]) -> str:
        if v.get("setting") and v["set_in_worker_py"]:
            return f"`{k}` {v['value']} (setting `{v['setting']}`; SDK default {v['sdk_default']})"
        if v["set_in_worker_py"]:
            return f"`{k}` set in worker.py (SDK default {v['sdk_default']})"
        return f"`{k}` {v['sdk_default']} (SDK default)"

    slot_text = "; ".join(slot(k, v) for k, v in slots.items())
    k = res["kill"]
    out = [
        f"One dev server; 1, 2 and 4 `python -m bench.scaleworker` processes (= `worker.py` + the "
        f"`noop` action) on one task queue, on this {res['nproc']}-core machine (server, workers and "
        f"this client share it). **io**: {res['io_steps']} linear `http` steps, each answered by a "
        f"local receiver after {res['io_delay_s'] * 1000:.0f} ms, {res['inflight']['io']} runs in "
        f"flight; **cpu**: {res['cpu_shape']}, {res['inflight']['cpu']} in flight. Closed loop: each "
        "run started and awaited, the next one started when one finishes. Activity tasks per worker: "
        "ActivityTaskStarted identities counted in the histories of sampled runs.",
        "",
        f"Worker slot settings (per process): {slot_text}.",
        "",
        *rows,
        "",
        f"**SIGKILL of one of two workers mid-load** (io shape, {k['runs']} runs, {res['inflight']['io']} "
        f"in flight): completed {k['completed']}, lost {k['lost']}, stuck {k['stuck']}; step side effects "
        f"seen at the receiver {k['effects_seen']} of {k['expected_effects']}; deliveries per "
        f"(run, step) key: {k['deliveries_per_key']} — {k['redelivered']} extra deliveries, each an attempt "
        "the kill cut short (the receiver had the request, the worker died before completing it) and "
        "Temporal retried with the same Idempotency-Key (activities are at-least-once); **"
        f"{k['duplicated_after_completion']}** delivered after the activity was recorded complete "
        f"(must be 0). {k['seconds']} s; " + "; ".join(k["events"]) + ". Activity tasks per worker "
        "in those runs: " + ", ".join(f"{a}: {b}" for a, b in sorted(k["spread"]["activity_tasks"].items())) + ".",
        "",
    ]
    return out


if __name__ == "__main__":
    import json

    result = asyncio.run(run(quick="--quick" in sys.argv))
    print("\n".join(report(result)))
    print(json.dumps(result, indent=1, default=str)[:4000])
