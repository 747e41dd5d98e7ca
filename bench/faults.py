"""Fault injection: runs keep their promises while the worker, Temporal and the API die.

The stack is all real processes: a file-persisted dev server, `python worker.py`
and the API under uvicorn, plus a local HTTP receiver that every run's `http`
steps POST to. Runs are started through `POST /runs` (client-chosen run ids,
retried until accepted) while faults are injected:

- `worker`: SIGKILL the worker at random moments, restart it after a short gap;
- `server`: restart the Temporal dev server (same db file and port) mid-run;
- `api`: SIGKILL the API mid-load and restart it; clients retry their POSTs.

Then `bench.effects.verify` counts completed / lost / stuck runs and completed
activities whose side effect was delivered again (must be 0).
"""

from __future__ import annotations

import asyncio
import random
import signal
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from temporalio.client import Client

from bench.api_rig import ADMIN, MANAGER, api_env
from bench.effects import retrying, verify
from bench.procs import ApiProc, DevServer, Receiver, WorkerProc
from payload_codec import data_converter
from settings import get_settings

STEPS = 3


def fault_template(url: str, steps: int = STEPS, name: str = "fault-http") -> dict[str, Any]:
    """`steps` linear `http` POSTs to the receiver; short timeout so killed attempts retry soon."""
    out = []
    for i in range(1, steps + 1):
        step: dict[str, Any] = {
            "id": f"call{i}",
            "action": "http",
            "with": {"method": "POST", "url": f"{url}/call{i}", "json": {"n": i}},
            "timeout": "4s",
            "retry": {"max_attempts": 50, "initial_interval": "200ms", "max_interval": "2s"},
        }
        if i > 1:
            step["depends_on"] = [f"call{i - 1}"]
        out.append(step)
    return {"name": name, "steps": out}


@dataclass
class Stack:
    workdir: Path
    server: DevServer
    worker: WorkerProc
    api: ApiProc
    receiver: Receiver
    client: Client
    task_queue: str
    http: httpx.AsyncClient
    events: list[str] = field(default_factory=list)
    t0: float = field(default_factory=time.monotonic)
    # set while a fault deliberately holds the worker down (the supervisor keeps off)
    worker_held: bool = False

    def note(self, what: str) -> None:
        self.events.append(f"{time.monotonic() - self.t0:6.1f}s {what}")


@asynccontextmanager
async def stack(receiver_delay: float = 0.02) -> AsyncIterator[Stack]:
    workdir = Path(tempfile.mkdtemp(prefix="relayflow-faults-"))
    tq = f"faults-{uuid.uuid4().hex[:8]}"
    server = DevServer(workdir)
    server.start()
    env = api_env(workdir)
    worker = WorkerProc(server.address, tq, workdir, DIRECTORY_FILE=env["DIRECTORY_FILE"])
    apip = ApiProc(server.address, tq, workdir, **env)
    try:
        client = await retrying(
            lambda: Client.connect(server.address, data_converter=data_converter(get_settings()))
        )
        worker.start()
        apip.start()
        with Receiver(receiver_delay) as receiver:
            async with httpx.AsyncClient(base_url=apip.url, timeout=30) as http:
                yield Stack(workdir, server, worker, apip, receiver, client, tq, http)
    finally:
        apip.stop()
        worker.stop()
        server.stop()


async def post_until_accepted(s: Stack, run_id: str, template: str) -> int:
    """POST /runs until the API accepts it (201, or 200 = the same run already started)."""
    tries = 0
    while True:
        tries += 1
        try:
            resp = await s.http.post(
                "/runs", json={"template": template, "input": {}, "run_id": run_id}, headers=MANAGER
            )
            if resp.status_code in (200, 201):
                return tries
            if resp.status_code < 500 and resp.status_code != 404:
                raise RuntimeError(f"POST /runs {run_id}: {resp.status_code} {resp.text}")
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.2)


async def open_runs(s: Stack) -> int:
    q = f'TaskQueue="{s.task_queue}" AND ExecutionStatus="Running"'
    return (await retrying(lambda: s.client.count_workflows(q))).count


async def kill_workers(s: Stack, kills: int, gap: tuple[float, float], stop: asyncio.Event) -> None:
    for _ in range(kills):
        try:
            await asyncio.wait_for(stop.wait(), random.uniform(*gap))
            return
        except TimeoutError:
            pass
        s.worker_held = True
        s.worker.kill(signal.SIGKILL)
        s.note("worker SIGKILL")
        await asyncio.sleep(random.uniform(0.1, 1.0))
        s.worker.start()
        s.worker_held = False
        s.note("worker restarted")


async def restart_server(s: Stack, after_deliveries: int) -> None:
    while sum(len(v) for v in s.receiver.snapshot().values()) < after_deliveries:
        await asyncio.sleep(0.1)
    s.server.kill(signal.SIGTERM)
    s.note("temporal server stopped")
    await asyncio.sleep(1.0)
    await asyncio.to_thread(s.server.start)
    s.note("temporal server restarted")


async def restart_api(s: Stack, posted: list[str], after_posts: int) -> None:
    while len(posted) < after_posts:
        await asyncio.sleep(0.05)
    s.api.kill(signal.SIGKILL)
    s.note("api SIGKILL")
    await asyncio.sleep(0.5)
    await asyncio.to_thread(s.api.start)
    s.note("api restarted")


async def supervise(s: Stack, stop: asyncio.Event) -> None:
    """Restart the worker if it exits on its own (e.g. after losing Temporal); noted."""
    while not stop.is_set():
        await asyncio.sleep(0.5)
        if s.worker_held:
            continue
        if s.worker.proc is not None and s.worker.proc.poll() is not None:
            s.note(f"worker exited by itself (code {s.worker.proc.returncode}); restarted")
            s.worker.start()


async def scenario(
    faults: list[str], n: int = 200, concurrency: int = 10, worker_kills: int = 6,
    kill_gap: tuple[float, float] = (1.0, 4.0), timeout: float = 240, receiver_delay: float = 0.05,
) -> dict[str, Any]:
    """n runs through the API while `faults` ("worker", "server", "api") are injected."""
    async with stack(receiver_delay) as s:
        resp = await s.http.post("/templates", json=fault_template(s.receiver.url), headers=ADMIN)
        resp.raise_for_status()
        ids = [f"fault-{i:04d}-{uuid.uuid4().hex[:6]}" for i in range(n)]
        posted: list[str] = []
        post_tries = 0
        stop = asyncio.Event()

        async def load() -> None:
            nonlocal post_tries
            queue = list(ids)
            async def lane() -> None:
                nonlocal post_tries
                while queue:
                    rid = queue.pop(0)
                    tries = await post_until_accepted(s, rid, "fault-http")
                    post_tries += tries
                    posted.append(rid)
            await asyncio.gather(*(lane() for _ in range(concurrency)))

        chaos = [asyncio.create_task(supervise(s, stop))]
        if "worker" in faults:
            chaos.append(asyncio.create_task(kill_workers(s, worker_kills, kill_gap, stop)))
        if "server" in faults:
            chaos.append(asyncio.create_task(restart_server(s, n * STEPS // 3)))
        if "api" in faults:
            chaos.append(asyncio.create_task(restart_api(s, posted, n // 3)))
        t0 = time.monotonic()
        await load()
        s.note(f"all {n} runs accepted")
        deadline = t0 + timeout
        while time.monotonic() < deadline:
            delivered = len(s.receiver.snapshot()) >= n * STEPS  # every step's key seen
            if delivered and all(t.done() for t in chaos[1:]) and await open_runs(s) == 0:
                break
            await asyncio.sleep(1.0)
        elapsed = time.monotonic() - t0
        stop.set()
        for t in chaos:
            if not t.done():
                t.cancel()
        await asyncio.gather(*chaos, return_exceptions=True)
        result = await verify(s.client, ids, s.receiver.snapshot())
        result.update(
            faults=faults, seconds=round(elapsed, 1), post_attempts=post_tries,
            worker_starts=s.worker.starts, events=s.events,
        )
        return result


async def run(n: int = 200) -> dict[str, Any]:
    """The three fault scenarios of the bench, one stack each."""
    return {
        "worker_sigkill": await scenario(["worker"], n=n),
        "server_restart": await scenario(["server"], n=n),
        "api_restart": await scenario(["api"], n=n),
    }


if __name__ == "__main__":
    import json
    import sys

    faults = sys.argv[2].split(",") if len(sys.argv) > 2 else ["worker", "server", "api"]
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    res = asyncio.run(scenario(faults, n=n, worker_kills=3, kill_gap=(0.5, 2.0), receiver_delay=0.1))
    print(json.dumps(res, indent=1))
