"""Cancellation = Temporal cancellation: running steps cancelled, `all_done` cleanups run."""

from __future__ import annotations

import asyncio
import uuid

from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import CancelledError

from tests.workflows.interp_support import ACTIVE, GATES, act, plan, start, worker
from workflows.engine.workflow import TemplateWorkflow


async def _wait_active(name: str, n: int = 1) -> None:
    for _ in range(200):
        if ACTIVE[name] >= n:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{name} never became active")


async def test_cancel_runs_cleanup_and_ends_cancelled(client: Client) -> None:
    name = "cancel1"
    GATES[name] = asyncio.Event()
    doc = {
        "steps": [
            act("long", "block", **{"with": {"name": name}}),
            act("next", depends_on=["long"]),
            {
                "id": "each",
                "foreach": {
                    "items": "[1, 2]",
                    "steps": [
                        act("inner", "block", **{"with": {"name": name}}),
                        act("inner_cleanup", depends_on=["inner"], run_if="all_done"),
                    ],
                },
            },
            act("cleanup", depends_on=["long", "next"], run_if="all_done"),
            act(
                "bad_cleanup",
                "flaky",
                depends_on=["long"],
                run_if="all_done",
                **{"with": {"fatal": True, "message": "cleanup broke"}},
            ),
        ]
    }
    async with worker(client) as w:
        h = await start(client, w, doc)
        await _wait_active(name, 3)
        await h.signal(TemplateWorkflow.pause)  # cancel overrides pause
        await h.cancel()
        try:
            await h.result()
            raise AssertionError("expected cancellation")
        except WorkflowFailureError as e:
            assert isinstance(e.cause, CancelledError)
        st = await h.query(TemplateWorkflow.status)
        await h.cancel()  # a second cancel is a no-op
    states = {k: v.state for k, v in st.steps.items()}
    assert states["long"] == "cancelled"
    assert states["next"] == "cancelled"
    assert states["cleanup"] == "succeeded"
    assert states["bad_cleanup"] == "failed" and st.steps["bad_cleanup"].error == "cleanup broke"
    assert states["each"] == "cancelled"
    assert states["each[0].inner"] == "cancelled" and states["each[0].inner_cleanup"] == "succeeded"
    assert st.state == "cancelled"
    GATES[name].set()


async def test_cancel_reaches_subflow_and_its_cleanup(client: Client) -> None:
    name = "cancel-sub"
    GATES[name] = asyncio.Event()
    child = plan(
        {
            "name": "child",
            "steps": [
                act("long", "block", **{"with": {"name": name}}),
                act("child_cleanup", depends_on=["long"], run_if="all_done"),
            ],
        }
    )
    doc = {
        "steps": [
            {"id": "sub", "subflow": {"template": "child", "version": 1}},
            act("cleanup", depends_on=["sub"], run_if="all_done"),
        ]
    }
    async with worker(client) as w:
        h = await start(
            client, w, doc, run_id=f"csub-{uuid.uuid4().hex[:8]}", subflows={"child@1": child}
        )
        await _wait_active(name)
        await h.cancel()
        try:
            await h.result()
            raise AssertionError("expected cancellation")
        except WorkflowFailureError as e:
            assert isinstance(e.cause, CancelledError)
        st = await h.query(TemplateWorkflow.status)
        child_st = await client.get_workflow_handle(f"{h.id}.sub").query(TemplateWorkflow.status)
    assert st.steps["sub"].state == "cancelled" and st.steps["cleanup"].state == "succeeded"
    assert child_st.state == "cancelled"
    assert child_st.steps["long"].state == "cancelled"
    assert child_st.steps["child_cleanup"].state == "succeeded"
    GATES[name].set()
