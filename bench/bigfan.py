"""Big fan-out (issue 18): a 10,000-item foreach and a 10,000-iteration loop, one action each.

Both run inside one run's workflow, continuing as new as their history grows, so no
execution reaches 10,000 events. Against a real stack — a file-persisted dev server
and the real `python worker.py` (the `log` action per item / iteration) — this
measures per shape: wall time, the executions of the continue-as-new chain, the most
events any one execution has, the worker's peak RSS (sampled every 0.25 s; the
worker is shared, so the loop's peak includes what the foreach left), and the size
of the final status document (pruned: workflows.engine.bodies).

    python -m bench.bigfan [--quick]     # --quick: 1,000 of each (a smoke run)

`run(quick)` returns the raw numbers, `report(result)` a markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from temporalio.client import Client, WorkflowHandle

from bench.api_rig import api_env
from bench.common import pid_rss_mb
from bench.effects import retrying
from bench.harness import compile_doc, start_relayflow
from bench.procs import DevServer, WorkerProc
from payload_codec import data_converter
from settings import get_settings
from workflows.engine.continuation import HISTORY_LIMIT
from workflows.engine.io import RunStatus
from workflows.engine.workflow import TemplateWorkflow

log = logging.getLogger(__name__)

CONCURRENCY = 50
TIMEOUT = 1800.0  # seconds one shape may take


def foreach_doc(n: int) -> dict[str, Any]:
    return {
        "name": "bigfan-foreach",
        "steps": [
            {
                "id": "fe",
                "foreach": {
                    "items": "input.xs",
                    "concurrency": CONCURRENCY,
                    "steps": [
                        {"id": "tick", "action": "log", "with": {"message": "item ${{ item }}"}}
                    ],
                },
            }
        ],
        "outputs": {"n": "${{ size(steps.fe.output) }}"},
    }


def loop_doc(n: int) -> dict[str, Any]:
    return {
        "name": "bigfan-loop",
        "steps": [
            {
                "id": "lp",
                "loop": {
                    "until": f"iteration + 1 >= {n}",
                    "max_iterations": n,
                    "steps": [
                        {
                            "id": "tick",
                            "action": "log",
                            "with": {"message": "iteration ${{ iteration }}"},
                        }
                    ],
                },
            }
        ],
        "outputs": {"last": "${{ steps.lp.output.tick.logged }}"},
    }


async def execution_lengths(client: Client, run_id: str) -> list[int]:
    """Events of every execution of a run's continue-as-new chain, first first."""
    lengths: list[int] = []
    current: str | None = (await client.get_workflow_handle(run_id).describe()).run_id
    while current:
        events = (await client.get_workflow_handle(run_id, run_id=current).fetch_history()).events
        lengths.append(len(events))
        attrs = events[0].workflow_execution_started_event_attributes
        current = attrs.continued_execution_run_id
    return lengths[::-1]


class RssSampler:
    """Peak RSS of one process, sampled in the background."""

    def __init__(self, pid: int, every: float = 0.25) -> None:
        self.pid, self.every, self.peak = pid, every, 0.0
        self._task: asyncio.Task[None] | None = None

    async def _sample(self) -> None:
        while True:
            self.peak = max(self.peak, pid_rss_mb(self.pid))
            await asyncio.sleep(self.every)

    def __enter__(self) -> RssSampler:
        self.peak = pid_rss_mb(self.pid)
        self._task = asyncio.get_running_loop().create_task(self._sample())
        return self

    def __exit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
        self.peak = max(self.peak, pid_rss_mb(self.pid))


async def run_shape(
    client: Client, worker: WorkerProc, tq: str, doc: dict[str, Any], input: dict[str, Any]
) -> dict[str, Any]:
    plan = compile_doc(doc)
    assert worker.pid is not None
    with RssSampler(worker.pid) as rss:
        t0 = time.monotonic()
        h: WorkflowHandle[Any, Any] = await start_relayflow(
            client, plan, tq, run_id=f"{doc['name']}-{uuid.uuid4().hex[:8]}", input=input
        )
        output = await asyncio.wait_for(h.result(), TIMEOUT)
        wall = time.monotonic() - t0
    status = await h.query(TemplateWorkflow.status, result_type=RunStatus)
    lengths = await execution_lengths(client, h.id)
    return {
        "wall_s": round(wall, 1),
        "executions": len(lengths),
        "events_per_execution": lengths,
        "max_events": max(lengths),
        "under_limit": max(lengths) < HISTORY_LIMIT,
        "peak_worker_rss_mb": round(rss.peak, 1),
        "status_bytes": len(status.model_dump_json()),
        "output": output,
    }


async def run(quick: bool) -> dict[str, Any]:
    """The 10,000-item foreach then the 10,000-iteration loop (1,000 each with `quick`)."""
    n = 1_000 if quick else 10_000
    workdir = Path(tempfile.mkdtemp(prefix="relayflow-bigfan-"))
    tq = f"bigfan-{uuid.uuid4().hex[:8]}"
    server = DevServer(workdir)
    server.start()
    env = api_env(workdir)
    worker = WorkerProc(server.address, tq, workdir, DIRECTORY_FILE=env["DIRECTORY_FILE"])
    try:
        client = await retrying(
            lambda: Client.connect(server.address, data_converter=data_converter(get_settings()))
        )
        worker.start()
        shapes = {
            "foreach": await run_shape(
                client, worker, tq, foreach_doc(n), {"xs": list(range(n))}
            ),
            "loop": await run_shape(client, worker, tq, loop_doc(n), {}),
        }
    finally:
        worker.stop()
        server.stop()
    return {"n": n, "concurrency": CONCURRENCY, "history_limit": HISTORY_LIMIT, "shapes": shapes}


def report(result: dict[str, Any]) -> str:
    """The result as a markdown table (one row per shape)."""
    n, c = result["n"], result["concurrency"]
    labels = {
        "foreach": f"foreach, {n:,} items (concurrency {c}), `log` per item",
        "loop": f"loop, {n:,} iterations, `log` per iteration",
    }
    rows = [
        "| shape | wall time (s) | executions | max events / execution | peak worker RSS (MiB) "
        "| final status document (bytes) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, r in result["shapes"].items():
        rows.append(
            f"| {labels.get(name, name)} | {r['wall_s']} | {r['executions']} | {r['max_events']:,} "
            f"| {r['peak_worker_rss_mb']} | {r['status_bytes']:,} |"
        )
    rows.append("")
    rows.append(
        f"Every execution stays under {result['history_limit']:,} events: "
        + ", ".join(f"{k} {'yes' if r['under_limit'] else 'NO'}" for k, r in result["shapes"].items())
        + "."
    )
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.bigfan", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="1,000 of each instead of 10,000")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    result = asyncio.run(run(args.quick))
    print(report(result))  # noqa: T201 - the bench's output
    print(json.dumps(result, default=str))  # noqa: T201


if __name__ == "__main__":
    main()
