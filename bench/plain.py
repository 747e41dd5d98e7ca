"""The *plain* hand-written baseline: what a Temporal user writes with no relayflow at all.

`bench.handwritten` (the "wrapped" baseline) calls the relayflow `noop` action, so it
pays the action wrapper (`activities.registry`: secret resolution, params validation,
background heartbeat, metrics span) and the worker's `AttemptInterceptor`. This module
is the baseline without any of that:

- `plain_noop` is a bare ``@activity.defn`` taking the step id (a string) and returning
  ``{}``; no heartbeats, no pydantic model;
- the workflows import nothing from relayflow (the sandbox re-imports this module per
  run, as it does any workflow module), and call the activity with the same options
  the interpreter gives an action step (5 min start-to-close, 30 s heartbeat timeout,
  the same retry policy, the step id as summary), so the histories are the same;
- `new_plain_worker` builds a default `Worker` (default sandbox, no interceptors).

Shapes: the same names as `bench.dags.SHAPES`.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.common import RetryPolicy
from temporalio.worker import Worker

TIMEOUT = timedelta(minutes=5)
HEARTBEAT_TIMEOUT = timedelta(seconds=30)
RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
    maximum_attempts=3,
)


@activity.defn(name="plain_noop")
async def plain_noop(step: str) -> dict[str, Any]:
    """Do nothing; return an empty output."""
    return {}


async def call(step: str) -> dict[str, Any]:
    return await workflow.execute_activity(
        plain_noop,
        step,
        start_to_close_timeout=TIMEOUT,
        retry_policy=RETRY,
        heartbeat_timeout=HEARTBEAT_TIMEOUT,
        summary=step,
    )


@workflow.defn(name="PlainLinear")
class PlainLinear:
    """s1 → s2 → … → sn."""

    @workflow.run
    async def run(self, n: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for i in range(1, n + 1):
            out[f"s{i}"] = await call(f"s{i}")
        return out


@workflow.defn(name="PlainFanout")
class PlainFanout:
    """b1…bN in parallel, then `join`."""

    @workflow.run
    async def run(self, width: int) -> dict[str, Any]:
        ids = [f"b{i}" for i in range(1, width + 1)]
        out = dict(zip(ids, await asyncio.gather(*(call(b) for b in ids)), strict=True))
        out["join"] = await call("join")
        return out


@workflow.defn(name="PlainDiamond")
class PlainDiamond:
    """a → (b, c) → d."""

    @workflow.run
    async def run(self) -> dict[str, Any]:
        out: dict[str, Any] = {"a": await call("a")}
        out["b"], out["c"] = await asyncio.gather(call("b"), call("c"))
        out["d"] = await call("d")
        return out


@workflow.defn(name="PlainDiamondChain")
class PlainDiamondChain:
    """`diamonds` diamonds in a row sharing their ends: d0 → (l1, r1) → d1 → (l2, r2) → d2 …"""

    @workflow.run
    async def run(self, diamonds: int) -> dict[str, Any]:
        out: dict[str, Any] = {"d0": await call("d0")}
        for i in range(1, diamonds + 1):
            out[f"l{i}"], out[f"r{i}"] = await asyncio.gather(call(f"l{i}"), call(f"r{i}"))
            out[f"d{i}"] = await call(f"d{i}")
        return out


WORKFLOWS: list[type] = [PlainLinear, PlainFanout, PlainDiamond, PlainDiamondChain]

#: shape name (as in `bench.dags.SHAPES`) → (workflow type, args)
STARTS: dict[str, tuple[str, list[Any]]] = {
    "linear-1": ("PlainLinear", [1]),
    "linear-5": ("PlainLinear", [5]),
    "linear-20": ("PlainLinear", [20]),
    "linear-100": ("PlainLinear", [100]),
    "fanout-10+join": ("PlainFanout", [10]),
    "diamond-3": ("PlainDiamond", []),
    "diamond-10": ("PlainDiamondChain", [3]),
}


def new_plain_worker(client: Client, task_queue: str) -> Worker:
    """A default Temporal worker: default sandbox, no interceptors, only the plain pieces."""
    return Worker(client, task_queue=task_queue, workflows=WORKFLOWS, activities=[plain_noop])
