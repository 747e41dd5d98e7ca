"""History economy (SPEC §3): n linear action steps cost exactly what n hand-written
`execute_activity` calls cost — no markers, upserts, side effects or extra timers."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from temporalio import workflow
from temporalio.client import Client

from tests.workflows.interp_support import noop, plan, worker
from workflows.engine.io import ActionRequest, RunInput
from workflows.engine.workflow import TemplateWorkflow


@workflow.defn(name="HandWritten")
class HandWritten:
    @workflow.run
    async def run(self, n: int) -> None:
        for i in range(n):
            await workflow.execute_activity(
                "noop",
                ActionRequest(run_id="x", step=f"s{i}", idempotency_key=f"x/s{i}"),
                start_to_close_timeout=timedelta(minutes=5),
            )


@pytest.mark.parametrize("n", [1, 5, 20])
async def test_linear_run_costs_no_extra_events(client: Client, n: int) -> None:
    steps = [
        {"id": f"s{i}", "action": "noop", **({"depends_on": [f"s{i - 1}"]} if i else {})}
        for i in range(n)
    ]
    p = plan({"steps": steps, "outputs": {"last": "${{ steps.s0.state }}"}})
    async with worker(client, workflows=[TemplateWorkflow, HandWritten], activities=[noop]) as w:
        ours = await client.start_workflow(
            TemplateWorkflow.run, RunInput(plan=p), id=f"hc-{uuid.uuid4()}", task_queue=w.task_queue
        )
        await ours.result()
        theirs = await client.start_workflow(
            HandWritten.run, n, id=f"hw-{uuid.uuid4()}", task_queue=w.task_queue
        )
        await theirs.result()
    ours_events = (await ours.fetch_history()).events
    theirs_events = (await theirs.fetch_history()).events
    assert len(ours_events) == len(theirs_events), (
        [e.event_type for e in ours_events],
        [e.event_type for e in theirs_events],
    )
    assert len(ours_events) == 5 + 6 * n
