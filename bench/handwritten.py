"""Hand-written Temporal workflows for the benchmark DAGs (`bench.dags`): the *wrapped* baseline.

What a Temporal user would write by hand for the same shapes: straight-line
`execute_activity` calls, `asyncio.gather` for parallel branches. They call the
same `noop` activity with the same `ActionRequest` input and the same activity
options the interpreter uses for an action step with default `retry`/`timeout`
(5 min start-to-close, 30 s heartbeat timeout, 3 attempts, 1 s initial interval,
backoff 2, 1 min max, the step id as the activity summary),
so the only difference measured is the interpreter itself. They run on the relayflow
worker (with its `AttemptInterceptor`) and call the relayflow-wrapped `noop` action;
`bench.plain` is the baseline without relayflow's activity wrapper and interceptor.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from workflows.engine.io import ActionRequest

TIMEOUT = timedelta(minutes=5)
HEARTBEAT_TIMEOUT = timedelta(seconds=30)
RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
    maximum_attempts=3,
)


async def noop(step: str) -> Any:
    """One action step: the `noop` activity, keyed like the interpreter keys it."""
    run_id = workflow.info().workflow_id
    return await workflow.execute_activity(
        "noop",
        ActionRequest(run_id=run_id, step=step, idempotency_key=f"{run_id}/{step}", params={}),
        start_to_close_timeout=TIMEOUT,
        retry_policy=RETRY,
        heartbeat_timeout=HEARTBEAT_TIMEOUT,
        summary=step,
        result_type=dict,
    )


@workflow.defn(name="HandLinear")
class HandLinear:
    """s1 → s2 → … → sn."""

    @workflow.run
    async def run(self, n: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for i in range(1, n + 1):
            out[f"s{i}"] = await noop(f"s{i}")
        return out


@workflow.defn(name="HandFanout")
class HandFanout:
    """b1…bN in parallel, then `join`."""

    @workflow.run
    async def run(self, width: int) -> dict[str, Any]:
        ids = [f"b{i}" for i in range(1, width + 1)]
        results = await asyncio.gather(*(noop(b) for b in ids))
        out = dict(zip(ids, results, strict=True))
        out["join"] = await noop("join")
        return out


@workflow.defn(name="HandDiamond")
class HandDiamond:
    """a → (b, c) → d."""

    @workflow.run
    async def run(self) -> dict[str, Any]:
        out: dict[str, Any] = {"a": await noop("a")}
        out["b"], out["c"] = await asyncio.gather(noop("b"), noop("c"))
        out["d"] = await noop("d")
        return out


@workflow.defn(name="HandDiamondChain")
class HandDiamondChain:
    """`diamonds` diamonds in a row sharing their ends: d0 → (l1, r1) → d1 → (l2, r2) → d2 …"""

    @workflow.run
    async def run(self, diamonds: int) -> dict[str, Any]:
        out: dict[str, Any] = {"d0": await noop("d0")}
        for i in range(1, diamonds + 1):
            out[f"l{i}"], out[f"r{i}"] = await asyncio.gather(noop(f"l{i}"), noop(f"r{i}"))
            out[f"d{i}"] = await noop(f"d{i}")
        return out


WORKFLOWS: list[type] = [HandLinear, HandFanout, HandDiamond, HandDiamondChain]

#: shape name (as in `bench.dags.SHAPES`) → (workflow type, args)
STARTS: dict[str, tuple[str, list[Any]]] = {
    "linear-1": ("HandLinear", [1]),
    "linear-5": ("HandLinear", [5]),
    "linear-20": ("HandLinear", [20]),
    "linear-100": ("HandLinear", [100]),
    "fanout-10+join": ("HandFanout", [10]),
    "diamond-3": ("HandDiamond", []),
    "diamond-10": ("HandDiamondChain", [3]),
}
