"""A run's state as of the end of its history, by replaying the history in this process.

Why replay here (see docs/analytics.md, "How step data is read"): the status
document of a closed run exists only inside the workflow. Asking for it with the
`status` query makes the server hand the whole history to a worker, which replays
it — the same work, plus a worker that must be polling the run's task queue.
Replaying the fetched history here needs nothing but Temporal's history API, works
for runs of any task queue, and gives the exact document the query would (same
code, same history). Parsing history events by hand would mean re-implementing the
interpreter.

`snapshots(histories)` replays a batch with one `Replayer` (the engine's own
`TemplateWorkflow`, unsandboxed: our own code, no need to re-import it per run) and an
interceptor that keeps each workflow instance; afterwards the instance's runtime
gives the status document and the step kinds. Replays run one batch at a time per
process (they are CPU work; the lock also keeps the instance map private to a batch).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from temporalio import workflow
from temporalio.client import WorkflowHistory
from temporalio.converter import DataConverter
from temporalio.worker import (
    ExecuteWorkflowInput,
    Interceptor,
    Replayer,
    UnsandboxedWorkflowRunner,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
)

from workflows.engine.io import RunStatus
from workflows.engine.workflow import TemplateWorkflow

log = logging.getLogger("relayflow.analytics")

_instances: dict[str, Any] = {}  # workflow id -> instance, only while a batch replays
_lock = asyncio.Lock()


@dataclass
class Snapshot:
    """The run's state at the end of its (last execution's) history."""

    status: RunStatus
    kinds: dict[str, str]


class _Keep(WorkflowInboundInterceptor):
    async def execute_workflow(self, input: ExecuteWorkflowInput) -> Any:
        _instances[workflow.info().workflow_id] = workflow.instance()
        return await super().execute_workflow(input)


class _KeepInstances(Interceptor):
    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[WorkflowInboundInterceptor] | None:
        return _Keep


async def snapshots(
    histories: list[WorkflowHistory], converter: DataConverter
) -> dict[str, Snapshot | str]:
    """Workflow id -> its Snapshot, or the reason there is none (replay failed)."""
    if not histories:
        return {}
    replayer = Replayer(
        workflows=[TemplateWorkflow],
        interceptors=[_KeepInstances()],
        workflow_runner=UnsandboxedWorkflowRunner(),
        data_converter=converter,
    )

    async def each() -> AsyncIterator[WorkflowHistory]:
        for h in histories:
            yield h

    out: dict[str, Snapshot | str] = {}
    async with _lock:
        _instances.clear()
        try:
            async with replayer.workflow_replay_iterator(each()) as results:
                async for result in results:
                    wid = result.history.workflow_id
                    failure = str(result.replay_failure) if result.replay_failure else None
                    out[wid] = _snapshot(_instances.pop(wid, None), failure)
        finally:
            _instances.clear()
    return out


def _snapshot(instance: Any, failure: str | None) -> Snapshot | str:
    rt = getattr(instance, "rt", None)
    if rt is None:
        return failure or "the history could not be replayed"
    if failure:
        log.warning("replay of %s failed: %s", rt.run_id, failure)
        return failure
    return Snapshot(status=rt.status(), kinds=dict(rt.kinds))
