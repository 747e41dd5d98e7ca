"""Did every run finish, and did any completed side effect happen twice?

Reads each run's description and history and compares them with what the
`Receiver` saw:

- completed / failed / lost (no such run, or closed any other way) / stuck (open);
- `duplicated_after_completion`: deliveries of an `Idempotency-Key` that arrived
  after Temporal recorded that activity as completed — a completed activity
  executed again (must be 0);
- `redelivered`: extra deliveries before completion — attempts cut short by a
  crash and retried, carrying the same key so the receiver can drop them
  (allowed: activities are at-least-once).
"""

from __future__ import annotations

import asyncio
import json
from functools import partial
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from bench.common import bounded


async def retrying(fn: Any, attempts: int = 60, delay: float = 1.0) -> Any:
    """`await fn()`, retried while the server is unreachable (restarts)."""
    for i in range(attempts):
        try:
            return await fn()
        except Exception:
            if i == attempts - 1:
                raise
            await asyncio.sleep(delay)


async def completions(client: Client, run_id: str) -> dict[str, float]:
    """Idempotency key → time Temporal recorded the activity's completion."""
    history = await client.get_workflow_handle(run_id).fetch_history()
    codec = client.data_converter.payload_codec
    keys: dict[int, str] = {}
    done: dict[str, float] = {}
    for e in history.events:
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            payloads = list(e.activity_task_scheduled_event_attributes.input.payloads)
            if codec is not None:  # PAYLOAD_KEYS set: the stored input is encrypted
                payloads = await codec.decode(payloads)
            try:
                keys[e.event_id] = json.loads(payloads[0].data)["idempotency_key"]
            except (IndexError, KeyError, ValueError):
                continue
        elif e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            key = keys.get(e.activity_task_completed_event_attributes.scheduled_event_id)
            if key is not None:
                done[key] = _ts(e.event_time)
    return done


def _ts(t: Any) -> float:
    """A protobuf Timestamp as epoch seconds."""
    return float(t.seconds) + t.nanos / 1e9


async def verify(client: Client, run_ids: list[str], arrivals: dict[str, list[float]]) -> dict[str, Any]:
    statuses: dict[str, str] = {}
    done: dict[str, float] = {}

    async def one(rid: str) -> None:
        try:
            desc = await retrying(lambda: client.get_workflow_handle(rid).describe(), attempts=3)
        except Exception:  # noqa: BLE001 - not found: lost
            statuses[rid] = "missing"
            return
        statuses[rid] = desc.status.name if desc.status else "?"
        done.update(await retrying(lambda: completions(client, rid), attempts=3))

    await bounded([partial(one, r) for r in run_ids], 20)
    after = redelivered = 0
    for key, times in arrivals.items():
        redelivered += max(0, len(times) - 1)
        finished = done.get(key)
        if finished is not None:
            after += sum(1 for t in times if t > finished)
    counts: dict[str, int] = {}
    for s in statuses.values():
        counts[s] = counts.get(s, 0) + 1
    completed = counts.get("COMPLETED", 0)
    running = counts.get("RUNNING", 0)
    return {
        "runs": len(run_ids),
        "completed": completed,
        "stuck": running,
        "lost": len(run_ids) - completed - running,
        "statuses": counts,
        "activities_completed": len(done),
        "deliveries": sum(len(t) for t in arrivals.values()),
        "redelivered": redelivered,
        "duplicated_after_completion": after,
    }
