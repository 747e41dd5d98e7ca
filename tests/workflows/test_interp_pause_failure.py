"""A step held back by pause does not start after resume when the run failed meanwhile.

SPEC §2: a failed non-optional step stops new steps from starting (except `run_if:
all_done`); SPEC §3: pause starts nothing new until resume. A step whose dependencies
were met while paused waits at the pause; if another step fails before resume, that
held step must end `skipped` rather than run.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

from temporalio.client import Client, WorkflowFailureError, WorkflowHandle

from tests.workflows.interp_support import ACTIVE, CALLS, GATES, act, start, worker
from workflows.engine.io import RunStatus
from workflows.engine.workflow import TemplateWorkflow


async def until(h: WorkflowHandle[Any, Any], check: Any) -> RunStatus:
    for _ in range(200):
        st = await h.query(TemplateWorkflow.status)
        if check(st):
            return st
        await asyncio.sleep(0.05)
    raise AssertionError(f"condition not reached; last status: {st}")


async def run_held_during_failure(
    client: Client, steps: Callable[[dict[str, Any]], list[dict[str, Any]]], first: str, held: str
) -> tuple[Any, RunStatus]:
    """Pause; release `first` (so `held` becomes ready and waits), fail `bad`, then resume.

    `steps(gate)` builds the steps under test; `gate` is the `with:` of the `block` step.
    """
    ga, gb = f"a-{uuid.uuid4()}", f"b-{uuid.uuid4()}"
    GATES[ga], GATES[gb] = asyncio.Event(), asyncio.Event()
    doc = {
        "steps": [
            *steps({"name": ga}),
            act("bad", "block", **{"with": {"name": gb, "fail": True}}),
            act("cleanup", depends_on=["bad"], run_if="all_done"),
        ]
    }
    async with worker(client) as w:
        h = await start(client, w, doc)
        await until(h, lambda _st: ACTIVE[ga] == 1 and ACTIVE[gb] == 1)
        await h.signal(TemplateWorkflow.pause)
        await until(h, lambda st: st.state == "paused")
        GATES[ga].set()  # `held` is now ready, but the run is paused
        await until(h, lambda st: st.steps[first].state == "succeeded")
        GATES[gb].set()  # `bad` fails while `held` waits at the pause
        await until(h, lambda st: st.steps["bad"].state == "failed")
        assert (await h.query(TemplateWorkflow.status)).steps[held].state == "pending"
        await h.signal(TemplateWorkflow.resume)
        try:
            result: Any = await h.result()
        except WorkflowFailureError as e:
            result = e
        return result, await h.query(TemplateWorkflow.status)


async def test_top_level_step_held_by_pause_is_skipped_after_failure(client: Client) -> None:
    def steps(gate: dict[str, Any]) -> list[dict[str, Any]]:
        return [act("a", "block", **{"with": gate}), act("b", depends_on=["a"])]

    result, st = await run_held_during_failure(client, steps, first="a", held="b")
    assert isinstance(result, WorkflowFailureError)
    assert st.state == "failed" and st.steps["bad"].state == "failed"
    assert st.steps["b"].state == "skipped" and st.steps["b"].error is None
    assert CALLS[f"{st.run_id}/b"] == 0, "the held step must not have run"
    assert st.steps["cleanup"].state == "succeeded"  # run_if: all_done still runs


async def test_nested_step_held_by_pause_is_skipped_and_body_stops(client: Client) -> None:
    def steps(gate: dict[str, Any]) -> list[dict[str, Any]]:
        body = [act("a", "block", **{"with": gate}), act("e2", depends_on=["a"])]
        return [{"id": "fe", "foreach": {"items": "[1]", "steps": body}}]

    result, st = await run_held_during_failure(client, steps, first="fe[0].a", held="fe[0].e2")
    assert isinstance(result, WorkflowFailureError)
    assert st.steps["fe[0].a"].state == "succeeded"
    assert st.steps["fe[0].e2"].state == "skipped"
    assert CALLS[f"{st.run_id}/fe[0].e2"] == 0
    assert st.steps["fe"].state == "cancelled"
    assert st.steps["fe"].error == "stopped: the run is failing (bad failed)"
