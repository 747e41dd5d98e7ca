"""Event subscriptions (SPEC §14): delivery latency and the history cost for a matching run.

`python -m bench.subscriptions [N]` (default 100 runs) prints the results and writes
`docs/benchmarks-subscriptions.json`; docs/subscriptions.md quotes them.

A fresh dev server and an in-process worker; each run (3 `log` steps) pins one
subscription to `run.started` and `run.completed` with a local HTTP receiver as its
`url` target (the delivery log is off: no database). Latency: the receiver's wall clock
on arrival minus the event's `at` (the workflow's time of the event), p50/p99/mean/max over
all deliveries, runs started 5 at a time. History cost: the event types of a run with
the subscription minus those of the same run without it.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import datetime
from typing import Any

from bench.common import ROOT, bounded, machine_facts, summary_ms
from bench.harness import compile_doc, rig
from settings import get_settings
from tests.helpers.http_receiver import HttpReceiver, Reply, Request
from workflows.engine.io import WORKFLOW_TYPE, PinnedSubscription, RunInput

OUT = ROOT / "docs" / "benchmarks-subscriptions.json"
DOC = {
    "name": "bench-subs",
    "steps": [
        {"id": "a", "action": "log", "with": {"message": "a"}},
        {"id": "b", "depends_on": ["a"], "action": "log", "with": {"message": "b"}},
        {"id": "c", "depends_on": ["b"], "action": "log", "with": {"message": "c"}},
    ],
}


async def _types(client: Any, run_id: str) -> Counter[str]:
    history = await client.get_workflow_handle(run_id).fetch_history()
    return Counter(e.WhichOneof("attributes") or "" for e in history.events)


async def run(n: int = 100) -> dict[str, Any]:
    os.environ["EGRESS_ALLOW"] = "127.0.0.1"
    os.environ["DATABASE_URL"] = f"sqlite:///{tempfile.mkdtemp()}/none.db"  # no delivery log
    get_settings.cache_clear()
    arrivals: dict[str, float] = {}
    bodies: dict[str, dict[str, Any]] = {}

    def receive(req: Request) -> Reply:
        arrivals[f"{req.header('X-Delivery-Id')}"] = time.time()
        bodies[f"{req.header('X-Delivery-Id')}"] = req.json
        return Reply(200, {"ok": True})

    plan = compile_doc(DOC)
    with HttpReceiver(default=receive) as rx:
        sub = PinnedSubscription(
            id="bench",
            events=["run.started", "run.completed"],
            target={"url": f"{rx.url}/events"},
        )
        async with rig() as r:

            async def one(subs: list[PinnedSubscription]) -> str:
                run_id = f"bench-subs-{uuid.uuid4()}"
                await r.client.execute_workflow(
                    WORKFLOW_TYPE,
                    RunInput(plan=plan, subscriptions=subs),
                    id=run_id,
                    task_queue=r.task_queue,
                )
                return run_id

            plain, matched = await one([]), await one([sub])
            await bounded([lambda: one([sub]) for _ in range(n)], 5)
            deadline = time.monotonic() + 30
            while len(arrivals) < 2 * (n + 1) and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            cost = await _types(r.client, matched) - await _types(r.client, plain)
    latencies = [
        arrivals[k] - datetime.fromisoformat(bodies[k]["at"]).timestamp() for k in arrivals
    ]
    return {
        "runs": n,
        "deliveries": len(latencies),
        "expected": 2 * (n + 1),
        "latency_ms": summary_ms(latencies),
        "history_events_added": dict(cost),
        "history_events_added_total": sum(cost.values()),
        "machine": machine_facts(),
    }


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    res = asyncio.run(run(n))
    OUT.write_text(json.dumps(res, indent=2) + "\n")
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
