"""What the API adds to starting a run: `POST /runs` against a direct `client.start_workflow`.

Both paths start the same template with the same run shape (`RunInput`, search
attributes, static summary, id policies — `bench.harness.start_relayflow` copies
`api.services.starting`). The runs go to a task queue no worker polls, so only
the start path is timed (the server persists the start and nothing else runs).
Calls alternate in chunks A/B/B/A, one at a time (latency) and then with
`concurrency` in flight (throughput).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from bench import harness
from bench.api_rig import MANAGER, api
from bench.common import bounded, summary_ms
from bench.dags import SHAPES
from tests.helpers.temporal import start_dev_server

Call = Callable[[str], Awaitable[Any]]


async def _timed_calls(call: Call, n: int, concurrency: int) -> tuple[list[float], float]:
    lat: list[float] = []

    async def one(rid: str) -> None:
        t0 = time.perf_counter()
        await call(rid)
        lat.append(time.perf_counter() - t0)

    t0 = time.perf_counter()
    ids = [f"api-bench-{uuid.uuid4().hex}" for _ in range(n)]
    await bounded([partial(one, r) for r in ids], concurrency)
    return lat, time.perf_counter() - t0


async def run(n: int = 200, chunk: int = 25, concurrency: int = 10) -> dict[str, Any]:
    env = await start_dev_server()
    client = env.client
    idle_tq = f"bench-no-worker-{uuid.uuid4().hex[:8]}"
    doc = SHAPES["linear-5"][0]
    try:
        async with api(client, idle_tq) as a:
            version = await a.save_template(doc)
            plan = harness.compile_doc(doc, version)

            async def via_api(rid: str) -> None:
                resp = await a.http.post(
                    "/runs", json={"template": doc["name"], "input": {}, "run_id": rid}, headers=MANAGER
                )
                if resp.status_code != 201:
                    raise RuntimeError(f"POST /runs: {resp.status_code} {resp.text}")

            async def direct(rid: str) -> None:
                await harness.start_relayflow(client, plan, idle_tq, run_id=rid, started_by="max")

            calls: dict[str, Call] = {"api": via_api, "direct": direct}
            await _timed_calls(via_api, 10, 1)  # warm-up both paths
            await _timed_calls(direct, 10, 1)
            out: dict[str, Any] = {"template": doc["name"], "runs_per_path": n}
            for mode, conc in (("sequential", 1), ("concurrent", concurrency)):
                lat: dict[str, list[float]] = {"api": [], "direct": []}
                wall = {"api": 0.0, "direct": 0.0}
                for i in range(0, n, chunk):
                    order = ("api", "direct") if (i // chunk) % 2 == 0 else ("direct", "api")
                    for path in order:
                        got, secs = await _timed_calls(calls[path], min(chunk, n - i), conc)
                        lat[path] += got
                        wall[path] += secs
                out[mode] = {
                    "concurrency": conc,
                    **{p: summary_ms(lat[p]) | {"starts_per_s": len(lat[p]) / wall[p]} for p in lat},
                }
                m = out[mode]
                m["p50_added_ms"] = m["api"]["p50_ms"] - m["direct"]["p50_ms"]
                m["throughput_ratio"] = m["api"]["starts_per_s"] / m["direct"]["starts_per_s"]
            return out
    finally:
        await env.shutdown()


if __name__ == "__main__":
    import json
    import sys

    print(json.dumps(asyncio.run(run(n=int(sys.argv[1]) if len(sys.argv) > 1 else 50)), indent=1))
