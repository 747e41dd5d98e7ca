"""Payload encryption overhead: one shape (linear-5) with and without the AES-GCM codec, same run.

Four sides on one dev server, each with its own in-process worker and task queue:
relayflow and hand-written, each once with today's converter and once with
`data_converter(PAYLOAD_KEYS=…)` (the converter the API and worker use when
encryption is on). Batches are interleaved (A B C D, D C B A, …) so machine-load
drift hits every side alike. Reported: the relayflow / hand-written CPU ratio
without and with the codec, and what the codec adds to each side's CPU per run.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from typing import Any

from temporalio.api.common.v1 import Payload
from temporalio.client import Client

from bench import harness
from bench.dags import SHAPES
from bench.overhead import SideStats, Starter, batch, batch_size
from payload_codec import data_converter, new_key
from settings import Settings

SIDES = ("relayflow", "handwritten", "relayflow+codec", "handwritten+codec")


def _client(base: Client, keys: str) -> Client:
    """A client on `base`'s connection with the converter `PAYLOAD_KEYS=keys` gives (""= off)."""
    conv = data_converter(Settings(_env_file=None, payload_keys=keys))  # type: ignore[call-arg]
    return Client(base.service_client, namespace=base.namespace, data_converter=conv)


async def _input_encoding(client: Client, run_id: str) -> str:
    """The `encoding` of a run's start input as stored by Temporal."""
    history = await client.get_workflow_handle(run_id).fetch_history()
    payloads = history.events[0].workflow_execution_started_event_attributes.input.payloads
    return payloads[0].metadata["encoding"].decode() if payloads else "none"


async def micro(sizes: tuple[int, ...] = (100, 1_000, 100_000, 1_500_000)) -> dict[str, float]:
    """The codec alone: microseconds of CPU to encrypt + decrypt one payload of each size."""
    conv = data_converter(Settings(_env_file=None, payload_keys=f"m:{new_key()}"))  # type: ignore[call-arg]
    codec = conv.payload_codec
    assert codec is not None
    out: dict[str, float] = {}
    for size in sizes:
        payload = Payload(metadata={"encoding": b"json/plain"}, data=os.urandom(size))
        reps = max(20, 2_000_000 // size)
        t0 = time.process_time()
        for _ in range(reps):
            await codec.decode(await codec.encode([payload]))
        out[str(size)] = 1e6 * (time.process_time() - t0) / reps
    return out


def _ratio(a: float, b: float) -> float:
    return a / b if b else float("nan")


async def run(
    shape: str = "linear-5", rounds: int = 4, scale: float = 1.0, concurrency: int = 10
) -> dict[str, Any]:
    doc, activities = SHAPES[shape]
    plan = harness.compile_doc(doc)
    n = batch_size(activities, scale)
    async with harness.rig() as rig:
        plain, enc = _client(rig.client, ""), _client(rig.client, f"bench:{new_key()}")
        tq = {"plain": f"bench-plain-{uuid.uuid4().hex[:8]}", "codec": f"bench-codec-{uuid.uuid4().hex[:8]}"}
        async with harness.new_bench_worker(plain, tq["plain"]), harness.new_bench_worker(enc, tq["codec"]):
            starters: dict[str, Starter] = {
                "relayflow": lambda rid: harness.start_relayflow(plain, plan, tq["plain"], run_id=rid),
                "handwritten": lambda rid: harness.start_handwritten(plain, shape, tq["plain"], run_id=rid),
                "relayflow+codec": lambda rid: harness.start_relayflow(enc, plan, tq["codec"], run_id=rid),
                "handwritten+codec": lambda rid: harness.start_handwritten(enc, shape, tq["codec"], run_id=rid),
            }
            for side in SIDES:  # warm-up: sandbox module cache, task queues, the codec's ciphers
                await batch(starters[side], f"warm-{side}", max(2, n // 4), concurrency, SideStats(), None)
            stats = {side: SideStats() for side in SIDES}
            for r in range(rounds):
                for side in SIDES if r % 2 == 0 else SIDES[::-1]:
                    prefix = f"{side.replace('+', '-')}-{shape}"
                    await batch(starters[side], prefix, n, concurrency, stats[side], rig.server_pid)
            encodings = {side: await _input_encoding(plain, stats[side].ids[0]) for side in SIDES}
    out: dict[str, Any] = {
        "codec_us_per_payload": await micro(),
        "shape": shape, "activities": activities, "rounds": rounds, "concurrency": concurrency,
        "runs_per_batch": n, "sides": {side: stats[side].report() for side in SIDES},
        "input_encoding": encodings,  # proof the +codec sides really encrypted
    }
    cpu = {side: out["sides"][side]["cpu_ms_per_run"] for side in SIDES}
    tput = {side: out["sides"][side]["runs_per_s"] for side in SIDES}
    out["cpu_ratio"] = _ratio(cpu["relayflow"], cpu["handwritten"])
    out["cpu_ratio_codec"] = _ratio(cpu["relayflow+codec"], cpu["handwritten+codec"])
    out["codec_cpu_factor"] = {
        "relayflow": _ratio(cpu["relayflow+codec"], cpu["relayflow"]),
        "handwritten": _ratio(cpu["handwritten+codec"], cpu["handwritten"]),
    }
    out["codec_cpu_ms"] = {
        "relayflow": cpu["relayflow+codec"] - cpu["relayflow"],
        "handwritten": cpu["handwritten+codec"] - cpu["handwritten"],
    }
    out["codec_tput_factor"] = {
        "relayflow": _ratio(tput["relayflow+codec"], tput["relayflow"]),
        "handwritten": _ratio(tput["handwritten+codec"], tput["handwritten"]),
    }
    print(
        f"  {shape} cpu ratio rf/hw {out['cpu_ratio']:.3f} without codec, "
        f"{out['cpu_ratio_codec']:.3f} with; codec adds {out['codec_cpu_ms']['relayflow']:.1f} ms "
        f"CPU per relayflow run (x{out['codec_cpu_factor']['relayflow']:.3f})",
        flush=True,
    )
    return out


if __name__ == "__main__":
    import json
    import sys
    from datetime import UTC, datetime

    from bench.common import loadavg
    from bench.report import codec as render

    quick = "--quick" in sys.argv
    start, load0 = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), loadavg()
    res = asyncio.run(run(rounds=2 if quick else 6, scale=0.15 if quick else 0.5))
    print(json.dumps(res, indent=1, default=str))
    print(f"\n`python -m bench.codec{' --quick' if quick else ''}` on {start}; "
          f"load average (1/5/15 min) {load0} at start, {loadavg()} at end.\n")
    print("\n".join(render(res)))
