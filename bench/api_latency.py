"""API latency under load: `POST /runs` at 1 and 50 concurrent clients; reads with 1,000 open runs.

All real processes: a dev server, `python worker.py` and the API under uvicorn (one
process, as `make run` starts it; SQLite database); this process is only the HTTP
client. The template parks every run on an approval assigned to the user `max`:

1. `POST /runs` timed with 1 client, then with 50 concurrent clients (each client
   sends its next request when its last one is answered);
2. more runs are started until `open_runs` wait on their approval (visibility
   says RunState="waiting");
3. with all of them open: `GET /runs/{id}` of random runs and `GET /inbox` of `max`
   (every open run is assigned to him: the inbox lists up to its page limit, asking
   each run's `status` query), timed one client at a time and with 10 concurrent.
"""

from __future__ import annotations

import asyncio
import random
import sys
import tempfile
import time
import uuid
from functools import partial
from pathlib import Path
from typing import Any

import httpx

from bench.api_rig import ADMIN, MANAGER, api_env
from bench.approvals import TEMPLATE, count, wait_until
from bench.common import bounded, summary_ms, timed
from bench.procs import ApiProc, WorkerProc
from tests.helpers.temporal import start_dev_server


async def post_runs(http: httpx.AsyncClient, ids: list[str], clients: int) -> tuple[list[float], float, int]:
    """POST /runs for every id with `clients` in flight: (latencies, wall seconds, errors)."""
    errors = 0

    async def one(rid: str) -> float:
        nonlocal errors
        t = await timed(lambda: http.post(
            "/runs", json={"template": TEMPLATE["name"], "input": {}, "run_id": rid}, headers=MANAGER
        ))
        if t.error or t.result.status_code != 201:
            errors += 1
        return t.seconds

    t0 = time.perf_counter()
    lat = await bounded([partial(one, r) for r in ids], clients)
    return lat, time.perf_counter() - t0, errors


async def reads(http: httpx.AsyncClient, paths: list[str], clients: int) -> tuple[list[float], int, int]:
    """GET every path with `clients` in flight: (latencies, errors, items in the last body)."""
    errors, last = 0, 0

    async def one(path: str) -> float:
        nonlocal errors, last
        t = await timed(lambda: http.get(path, headers=MANAGER))
        if t.error or t.result.status_code != 200:
            errors += 1
        else:
            body = t.result.json()
            last = len(body) if isinstance(body, list) else 1
        return t.seconds

    return await bounded([partial(one, p) for p in paths], clients), errors, last


async def run(open_runs: int = 1000, posts: int = 200, gets: int = 300, inbox_reads: int = 30) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="relayflow-bench-api-latency-"))
    env = await start_dev_server()
    client = env.client
    tq = f"bench-api-latency-{uuid.uuid4().hex[:8]}"
    address = client.service_client.config.target_host
    extra = api_env(workdir) | {"ANALYTICS_INTERVAL": "0"}
    worker = WorkerProc(address, tq, workdir, DIRECTORY_FILE=extra["DIRECTORY_FILE"])
    apip = ApiProc(address, tq, workdir, **extra)
    res: dict[str, Any] = {"open_runs": open_runs, "api_processes": 1, "database": "sqlite"}
    try:
        worker.start()
        await asyncio.to_thread(apip.start)
        async with httpx.AsyncClient(base_url=apip.url, timeout=60) as http:
            resp = await http.post("/templates", json=TEMPLATE, headers=ADMIN)
            if resp.status_code != 201:
                raise RuntimeError(f"saving the template: {resp.status_code} {resp.text}")
            started: list[str] = []

            def new_ids(k: int) -> list[str]:
                ids = [f"lat-{len(started) + i:05d}-{uuid.uuid4().hex[:6]}" for i in range(k)]
                started.extend(ids)
                return ids

            await post_runs(http, new_ids(10), 1)  # warm-up (imports, DB, first starts)
            for label, clients in (("post_runs_1_client", 1), ("post_runs_50_clients", 50)):
                k = posts if clients > 1 else max(20, posts // 2)
                lat, wall, errors = await post_runs(http, new_ids(k), clients)
                res[label] = summary_ms(lat) | {"clients": clients, "runs_per_s": k / wall, "errors": errors}
            rest = max(0, open_runs - len(started))
            t0 = time.perf_counter()
            lat, _, errors = await post_runs(http, new_ids(rest), 20)
            res["post_runs_filling"] = summary_ms(lat) | {"clients": 20, "errors": errors}
            res["all_waiting"] = await wait_until(
                lambda: _waiting(client, tq, len(started)), timeout=max(120, len(started) / 5)
            )
            res["open_runs"] = await count(client, tq, "Running")
            res["fill_seconds"] = time.perf_counter() - t0
            for clients in (1, 10):
                paths = [f"/runs/{random.choice(started)}" for _ in range(gets)]
                lat, errors, _ = await reads(http, paths, clients)
                res[f"get_run_{clients}"] = summary_ms(lat) | {"clients": clients, "errors": errors}
                lat, errors, items = await reads(http, ["/inbox"] * inbox_reads, clients)
                res[f"inbox_{clients}"] = summary_ms(lat) | {"clients": clients, "errors": errors, "items": items}
    finally:
        apip.stop()
        worker.stop()
        await env.shutdown()
    return res


async def _waiting(client: Any, tq: str, n: int) -> bool:
    return await count(client, tq, "Running", ' AND RunState="waiting"') >= n


def report(r: dict[str, Any]) -> list[str]:
    def row(label: str, key: str, note: str = "") -> str:
        d = r[key]
        extra = f"{d['runs_per_s']:.1f} runs/s" if "runs_per_s" in d else note
        return (f"| {label} | {d['clients']} | {d['n']} | {d['p50_ms']:.1f} | **{d['p99_ms']:.1f}** | "
                f"{d['max_ms']:.1f} | {d['errors']} | {extra} |")

    return [
        f"The API under uvicorn (one process, SQLite), `python worker.py` and a dev server, all "
        f"separate processes; this process is only the HTTP client. Every run waits on an "
        f"approval assigned to `max`. Reads happen with **{r['open_runs']}** runs open and waiting "
        f"(all waiting: {r['all_waiting']}; filling took {r['fill_seconds']:.0f} s).",
        "",
        "| request | concurrent clients | n | p50 ms | **p99 ms** | max ms | errors | note |",
        "|---|---|---|---|---|---|---|---|",
        row("`POST /runs`", "post_runs_1_client"),
        row("`POST /runs`", "post_runs_50_clients"),
        row("`GET /runs/{id}`", "get_run_1"),
        row("`GET /runs/{id}`", "get_run_10"),
        row("`GET /inbox`", "inbox_1", f"{r['inbox_1']['items']} items per response"),
        row("`GET /inbox`", "inbox_10", f"{r['inbox_10']['items']} items per response"),
        "",
        "- `GET /inbox` lists the caller's open approvals from visibility (up to its page limit) "
        "and asks each listed run's small `pending` query (20 at a time), so its cost grows with the "
        "number of open runs assigned to the caller up to that limit; with few reads its p99 is "
        "close to the max.",
        "",
    ]


if __name__ == "__main__":
    import json

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    result = asyncio.run(run(open_runs=n, posts=min(200, n), gets=100, inbox_reads=10))
    print("\n".join(report(result)))
    print(json.dumps(result, indent=1))
