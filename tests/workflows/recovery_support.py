"""Helpers for the recovery tests (SPEC §9) at the workflow level: an action that fails
while a switch is on, and a redrive started the way the API starts one."""

from __future__ import annotations

from collections import Counter
from typing import Any

from temporalio import activity
from temporalio.client import Client, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker

from tests.workflows.interp_support import TEST_ACTIVITIES
from workflows.engine import redrive
from workflows.engine.io import ActionRequest, RedriveInput, RunInput, RunStatus
from workflows.engine.workflow import TemplateWorkflow

#: switch name -> failing now; a `switch` call with `name` in BROKEN fails (not retried)
BROKEN: set[str] = set()
#: idempotency key -> calls of `switch`
SWITCH_CALLS: Counter[str] = Counter()


@activity.defn(name="switch")
async def switch(req: ActionRequest) -> dict[str, Any]:
    SWITCH_CALLS[req.idempotency_key] += 1
    names = req.params.get("names") or [req.params.get("name")]
    broken = [n for n in names if n in BROKEN]
    if broken or req.params.get("fail"):
        raise ApplicationError(f"{broken or 'fail'} is down", type="Down", non_retryable=True)
    return {"params": req.params}


ACTIVITIES = [*TEST_ACTIVITIES, switch]


async def redrive_run(
    client: Client, w: Worker, run_id: str, count: int = 1, plan: Any = None
) -> WorkflowHandle[Any, Any]:
    """Start a redrive of `run_id` as the API does: the latest execution's input and final
    status document, a new execution under the same id."""
    handle = client.get_workflow_handle(run_id)
    desc = await handle.describe()
    doc = await handle.query(TemplateWorkflow.status)
    assert isinstance(doc, RunStatus)
    previous = await _input(handle)
    carry, children = redrive.plan(previous.plan.template, doc.steps)
    kids: dict[str, RedriveInput] = {}
    for address in children:
        from workflows.kinds.subflow import child_id

        child = client.get_workflow_handle(child_id(run_id, address))
        child_doc = await child.query(TemplateWorkflow.status)
        child_inp = await _input(child)
        kid, _ = redrive.plan(child_inp.plan.template, child_doc.steps)
        kids[address] = kid.model_copy(update={"count": count})
    carry = carry.model_copy(update={"count": count, "previous": desc.run_id, "children": kids})
    inp = previous.model_copy(
        update={"carry": None, "redrive": carry, **({"plan": plan} if plan else {})}
    )
    return await client.start_workflow(
        TemplateWorkflow.run,
        inp,
        id=run_id,
        task_queue=w.task_queue,
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
        id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
    )


async def _input(handle: WorkflowHandle[Any, Any]) -> RunInput:
    async for event in handle.fetch_history_events():
        payloads = event.workflow_execution_started_event_attributes.input.payloads
        [value] = await handle._client.data_converter.decode(list(payloads), [RunInput])
        assert isinstance(value, RunInput)
        return value
    raise AssertionError("no history")
