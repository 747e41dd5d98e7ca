"""Approvals at scale: N runs parked on an approval at once, read while waiting, all decided.

The worker is the real `python worker.py` in a subprocess (so its RSS is its own);
the API is the real app in-process over httpx's ASGI transport. Runs are started
through `POST /runs`; while all N wait, `GET /runs/{id}` and the raw `status`
query are timed (interleaved chunks, random runs); then every run is decided
through the API, and we wait until none is left running: lost = runs that do
not exist or did not complete, stuck = still open at the deadline.
"""

from __future__ import annotations

import asyncio
import random
import tempfile
import time
import uuid
from functools import partial
from pathlib import Path
from typing import Any

from temporalio.client import Client

from bench.api_rig import MANAGER, Api, api
from bench.common import bounded, pid_rss_mb, summary_ms, timed
from bench.procs import WorkerProc
from tests.helpers.temporal import start_dev_server

TEMPLATE = {
    "name": "bench-approval",
    "steps": [
        {"id": "ask", "approval": {"assignees": {"users": ["max"]}}},
        {
            "id": "done",
            "depends_on": ["ask"],
            "action": "log",
            "with": {"message": "decided ${{ steps.ask.decision }}"},
        },
    ],
}


async def count(client: Client, tq: str, status: str, extra: str = "") -> int:
    query = f'TaskQueue="{tq}" AND ExecutionStatus="{status}"{extra}'
    return (await client.count_workflows(query)).count


async def wait_until(pred: Any, timeout: float, every: float = 1.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await pred():
            return True
        await asyncio.sleep(every)
    return False


async def start_all(a: Api, ids: list[str], concurrency: int) -> list[float]:
    async def one(rid: str) -> float:
        t = await timed(lambda: a.http.post(
            "/runs", json={"template": TEMPLATE["name"], "input": {}, "run_id": rid}, headers=MANAGER
        ))
        if t.error or t.result.status_code != 201:
            raise RuntimeError(f"POST /runs {rid}: {t.error or t.result.text}")
        return t.seconds

    return await bounded([partial(one, r) for r in ids], concurrency)


async def read_latencies(
    a: Api, client: Client, ids: list[str], reads: int, concurrency: int
) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {"api": [], "query": []}

    async def api_get(rid: str) -> None:
        t = await timed(lambda: a.http.get(f"/runs/{rid}", headers=MANAGER))
        if t.error or t.result.status_code != 200:
            raise RuntimeError(f"GET /runs/{rid}: {t.error or t.result.text}")
        out["api"].append(t.seconds)

    async def raw_query(rid: str) -> None:
        t = await timed(lambda: client.get_workflow_handle(rid).query("status"))
        if t.error:
            raise RuntimeError(f"query {rid}: {t.error}")
        out["query"].append(t.seconds)

    chunk = 50
    for i in range(0, reads, chunk):  # interleave the two paths in chunks
        sample = random.sample(ids, min(chunk, len(ids)))
        first, second = (api_get, raw_query) if (i // chunk) % 2 == 0 else (raw_query, api_get)
        for fn in (first, second):
            await bounded([partial(fn, r) for r in sample], concurrency)
    return out


async def decide_all(a: Api, ids: list[str], concurrency: int) -> tuple[list[float], int]:
    errors = 0

    async def one(rid: str) -> float:
        nonlocal errors
        t = await timed(lambda: a.http.post(
            f"/runs/{rid}/steps/ask/decision", json={"outcome": "approved"}, headers=MANAGER
        ))
        if t.error or t.result.status_code != 200:
            errors += 1
        return t.seconds

    lat = await bounded([partial(one, r) for r in ids], concurrency)
    return lat, errors


async def run(n: int = 1000, reads: int = 400, concurrency: int = 20, timeout: float = 300) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="relayflow-bench-approvals-"))
    env = await start_dev_server()
    client = env.client
    tq = f"bench-approvals-{uuid.uuid4().hex[:8]}"
    res: dict[str, Any] = {"runs": n, "concurrency": concurrency}
    async with api(client, tq) as a:
        worker = WorkerProc(
            client.service_client.config.target_host, tq, workdir,
            DIRECTORY_FILE=str(a.workdir / "directory.yaml"),
        )
        worker.start()
        try:
            await a.save_template(TEMPLATE)
            # warm the worker (imports, sandbox) with one full run before measuring RSS
            await start_all(a, ["warm-0"], 1)
            await wait_until(lambda: _waiting(client, tq, 1), 60, 0.5)
            await decide_all(a, ["warm-0"], 1)
            await wait_until(lambda: _none_running(client, tq), 60, 0.5)
            res["worker_rss_mb_before"] = pid_rss_mb(worker.pid or 0)

            ids = [f"appr-{i:05d}-{uuid.uuid4().hex[:6]}" for i in range(n)]
            t0 = time.perf_counter()
            res["post_runs"] = summary_ms(await start_all(a, ids, concurrency))
            parked = await wait_until(lambda: _waiting(client, tq, n), timeout)
            res["park_seconds"] = time.perf_counter() - t0
            res["all_parked"] = parked
            res["worker_rss_mb_parked"] = pid_rss_mb(worker.pid or 0)

            for mode, readers in (("sequential", 1), ("concurrent", 10)):
                lat = await read_latencies(a, client, ids, reads, readers)
                res[f"get_run_{mode}"] = summary_ms(lat["api"])
                res[f"status_query_{mode}"] = summary_ms(lat["query"])

            t0 = time.perf_counter()
            decide_lat, errors = await decide_all(a, ids, concurrency)
            res["decide"] = summary_ms(decide_lat)
            res["decide_errors"] = errors
            await wait_until(lambda: _none_running(client, tq), timeout)
            res["drain_seconds"] = time.perf_counter() - t0
            res["worker_rss_mb_after"] = pid_rss_mb(worker.pid or 0)
            res.update(await outcome(client, tq, ids))
        finally:
            worker.stop()
            await env.shutdown()
    return res


async def _waiting(client: Client, tq: str, n: int) -> bool:
    return await count(client, tq, "Running", ' AND RunState="waiting"') >= n


async def _none_running(client: Client, tq: str) -> bool:
    return await count(client, tq, "Running") == 0


async def outcome(client: Client, tq: str, ids: list[str]) -> dict[str, int]:
    """completed / lost / stuck among `ids`, from each run's description."""
    completed = stuck = lost = 0

    async def one(rid: str) -> None:
        nonlocal completed, stuck, lost
        try:
            desc = await client.get_workflow_handle(rid).describe()
        except Exception:  # noqa: BLE001 - not found = lost
            lost += 1
            return
        name = desc.status.name if desc.status else "?"
        if name == "COMPLETED":
            completed += 1
        elif name == "RUNNING":
            stuck += 1
        else:
            lost += 1

    await bounded([partial(one, r) for r in ids], 20)
    return {"completed": completed, "lost": lost, "stuck": stuck}


if __name__ == "__main__":
    import json
    import sys

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    print(json.dumps(asyncio.run(run(n=n, reads=min(400, 4 * n))), indent=1))
