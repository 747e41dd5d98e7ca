"""`python -m bench.sideworker SIDE ADDRESS TASK_QUEUE`: one side's worker, alone in a process.

`bench.sidebyside` starts one of these per side. `relayflow` is the bench's relayflow
worker (`bench.harness.new_bench_worker`: the production worker's options, the
collector tuned as `worker.main` tunes it); `plain` is `bench.plain`'s default Temporal
worker with Python's default collector, as a user would run it (`--tuned-gc`: tuned too).
Prints `ready` once polling, then collector statistics (`gc <seconds> <collections>`)
on every line it reads from stdin.
"""

from __future__ import annotations

import asyncio
import gc
import sys
import time

from temporalio.client import Client
from temporalio.worker import Worker

import worker as relayflow_worker
from bench import harness, plain
from payload_codec import data_converter
from settings import get_settings

_gc = {"seconds": 0.0, "collections": 0, "started": 0.0}


def _clock(phase: str, info: dict[str, int]) -> None:
    if phase == "start":
        _gc["started"] = time.process_time()
    else:
        _gc["seconds"] += time.process_time() - _gc["started"]
        _gc["collections"] += 1


async def main(side: str, address: str, task_queue: str, tuned_gc: bool) -> None:
    client = await Client.connect(address, data_converter=data_converter(get_settings()))
    w: Worker
    if side == "relayflow":
        w = harness.new_bench_worker(client, task_queue)
    else:
        harness.precompile(plain.WORKFLOWS)
        w = plain.new_plain_worker(client, task_queue)
    if side == "relayflow" or tuned_gc:
        relayflow_worker.tune_gc()
    gc.callbacks.append(_clock)
    async with w:
        print("ready", flush=True)
        loop = asyncio.get_running_loop()
        while await loop.run_in_executor(None, sys.stdin.readline):
            print(f"gc {_gc['seconds']:.6f} {_gc['collections']}", flush=True)


if __name__ == "__main__":
    side, address, task_queue = sys.argv[1:4]
    asyncio.run(main(side, address, task_queue, "--tuned-gc" in sys.argv[4:]))
