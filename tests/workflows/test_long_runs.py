"""Long runs: big loops / foreach bodies inside the run's own workflow, continue-as-new
at quiescent points with the state carried (SPEC §3)."""

from __future__ import annotations

import os
import time
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle

from tests.workflows.interp_support import act, start, worker
from workflows.engine.bodies import KEEP
from workflows.engine.continuation import STEPS_PER_ACTIVATION
from workflows.engine.workflow import TemplateWorkflow

FULL = os.environ.get("RELAYFLOW_FULL_LONG_RUNS") == "1"


def loop_doc(n: int, body: dict) -> dict:
    return {
        "steps": [
            {
                "id": "lp",
                "loop": {"until": f"iteration + 1 >= {n}", "max_iterations": n, "steps": [body]},
            },
            act("after", "noop", depends_on=["lp"]),
        ],
        "outputs": {"last": "${{ steps.lp.output }}", "count": "${{ vars.count }}"},
    }


async def _activations(h: WorkflowHandle[Any, Any]) -> int:
    events = (await h.fetch_history()).events
    return sum(e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED for e in events)


async def _runs_in_chain(client: Client, run_id: str) -> int:
    """How many executions (continue-as-new chain) the workflow id has."""
    n = 0
    async for _ in client.list_workflows(f"WorkflowId = '{run_id}'"):
        n += 1
    return n


async def test_loop_3000_iterations_of_set(client: Client) -> None:
    n = 3000
    doc = loop_doc(n, {"id": "bump", "set": {"count": "${{ iteration + 1 }}"}})
    t0 = time.monotonic()
    async with worker(client) as w:
        h = await start(client, w, doc)
        result = await h.result()
        st = await h.query(TemplateWorkflow.status)
    assert result == {"last": {"bump": {"count": n}}, "count": n}
    assert st.steps[f"lp[{n - 1}].bump"].state == "succeeded"
    # finished iterations beyond the last KEEP are summarised, not listed (issue 20)
    assert len([k for k in st.steps if k.startswith("lp[")]) == KEEP
    assert st.steps["lp"].body is not None
    assert st.steps["lp"].body.counts == {"succeeded": n} and st.steps["lp"].body.pruned == n - KEEP
    assert await _activations(h) >= n // STEPS_PER_ACTIVATION
    assert time.monotonic() - t0 < 60


async def test_foreach_2000_items_of_set(client: Client) -> None:
    n = 2000
    doc = {
        "steps": [
            {
                "id": "fe",
                "foreach": {
                    "items": "input.xs",
                    "concurrency": 50,
                    "steps": [{"id": "v", "set": {"last": "${{ item }}"}}],
                },
            }
        ],
        "outputs": {
            "n": "${{ size(steps.fe.output) }}",
            "at": "${{ steps.fe.output[1999].v.last }}",
        },
    }
    async with worker(client) as w:
        h = await start(client, w, doc, {"xs": list(range(n))})
        result = await h.result()
        st = await h.query(TemplateWorkflow.status)
    assert result == {"n": n, "at": n - 1}
    assert st.steps["fe[1999].v"].output == {"last": n - 1}
    assert st.steps["fe"].body is not None and st.steps["fe"].body.counts == {"succeeded": n}
    assert "fe[0].v" not in st.steps  # pruned: its output is in steps.fe.output
    # the work is split across activations (all 50 concurrent items wait on one yield
    # timer), so no activation runs long enough to trip the 2 s deadlock detector
    assert await _activations(h) >= n // STEPS_PER_ACTIVATION


@pytest.mark.parametrize("n", [3000] if FULL else [60])
async def test_loop_of_activities_continues_as_new(client: Client, n: int) -> None:
    doc = loop_doc(n, act("tick", "echo", **{"with": {"i": "${{ iteration }}"}}))
    doc["steps"].insert(0, {"id": "first", "set": {"count": 0}})
    doc["steps"][1]["depends_on"] = ["first"]
    doc["steps"][1]["loop"]["steps"].append(
        {"id": "bump", "depends_on": ["tick"], "set": {"count": "${{ vars.count + 1 }}"}}
    )
    async with worker(client) as w:
        h = await start(client, w, doc, carry=None if FULL else {"options": {"history_limit": 120}})
        result = await h.result()
        st = await h.query(TemplateWorkflow.status)
        first_history = await client.get_workflow_handle(
            h.id, run_id=h.result_run_id
        ).fetch_history()
    assert result["count"] == n and result["last"]["tick"]["params"] == {"i": n - 1}
    assert (
        first_history.events[-1].event_type
        == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW
    )
    assert st.steps["first"].state == "succeeded" and st.steps["after"].state == "succeeded"
    assert st.steps["lp"].body is not None and st.steps["lp"].body.counts == {"succeeded": n}
    assert st.steps[f"lp[{n - 1}].tick"].output["key"].endswith(f"/lp[{n - 1}].tick")
    assert st.started_at == (await h.describe()).start_time or st.started_at is not None


@pytest.mark.parametrize("n", [2000] if FULL else [40])
async def test_foreach_of_activities_continues_as_new(client: Client, n: int) -> None:
    doc = {
        "steps": [
            {
                "id": "fe",
                "foreach": {
                    "items": "input.xs",
                    "concurrency": 5,
                    "steps": [act("e", "echo", **{"with": {"x": "${{ item }}"}})],
                },
            }
        ],
        "outputs": {"xs": "${{ steps.fe.output.map(o, o.e.params.x) }}"},
    }
    async with worker(client) as w:
        h = await start(
            client,
            w,
            doc,
            {"xs": list(range(n))},
            carry=None if FULL else {"options": {"history_limit": 100}},
        )
        result = await h.result()
        st = await h.query(TemplateWorkflow.status)
        runs = await _runs_in_chain(client, h.id)
    assert result == {"xs": list(range(n))}
    assert runs > 1
    assert st.steps["fe"].body is not None and st.steps["fe"].body.counts == {"succeeded": n}


async def test_continue_as_new_keeps_timer_deadline_and_pause(client: Client) -> None:
    n = 30
    doc = loop_doc(n, act("tick", "echo"))
    doc["steps"].append({"id": "w", "wait": {"duration": "3s"}})
    doc["outputs"] = {"last": "${{ steps.lp.output }}"}
    async with worker(client) as w:
        h = await start(client, w, doc, carry={"options": {"history_limit": 60}})
        result = await h.result()
        st = await h.query(TemplateWorkflow.status)
        runs = await _runs_in_chain(client, h.id)
    assert runs > 1 and result["last"] == {"tick": st.steps[f"lp[{n - 1}].tick"].output}
    took = (st.steps["w"].finished_at - st.steps["w"].started_at).total_seconds()
    assert 3 <= took < 4.5, took  # resumed towards the original due time, not restarted
    assert st.steps["w"].output["until"]


async def _execution_lengths(client: Client, h: WorkflowHandle[Any, Any]) -> list[int]:
    """History length of every execution of the run's continue-as-new chain, first first
    (walked back from the last execution: no visibility lag)."""
    lengths: list[int] = []
    run_id: str | None = (await client.get_workflow_handle(h.id).describe()).run_id
    while run_id:
        events = (await client.get_workflow_handle(h.id, run_id=run_id).fetch_history()).events
        lengths.append(len(events))
        run_id = events[0].workflow_execution_started_event_attributes.continued_execution_run_id
    return lengths[::-1]


# the 10,000 shapes of issue 18 (opt-in); scaled down, a low history limit forces
# several continue-as-new cycles, with the drain reserved for so none passes the limit
BIG = 10_000 if FULL else None


@pytest.mark.parametrize(("n", "limit"), [(BIG, 10_000)] if BIG else [(200, 400)])
async def test_foreach_of_actions_history_stays_under_the_limit(
    client: Client, n: int, limit: int
) -> None:
    doc = {
        "steps": [
            {
                "id": "fe",
                "foreach": {
                    "items": "input.xs",
                    "concurrency": 50,
                    "steps": [act("e", "echo", **{"with": {"x": "${{ item }}"}})],
                },
            }
        ],
        "outputs": {"xs": "${{ steps.fe.output.map(o, o.e.params.x) }}"},
    }
    options = None if FULL else {"options": {"history_limit": limit, "reserve_drain": True}}
    async with worker(client, max_concurrent_activities=100) as w:
        h = await start(client, w, doc, {"xs": list(range(n))}, carry=options)
        result = await h.result()
        st = await h.query(TemplateWorkflow.status)
        lengths = await _execution_lengths(client, h)
    assert result == {"xs": list(range(n))}
    assert st.steps["fe"].body is not None and st.steps["fe"].body.counts == {"succeeded": n}
    assert len(lengths) > 1 and max(lengths) < limit, lengths


@pytest.mark.parametrize(("n", "limit"), [(BIG, 10_000)] if BIG else [(150, 200)])
async def test_loop_of_actions_history_stays_under_the_limit(
    client: Client, n: int, limit: int
) -> None:
    doc = loop_doc(n, act("tick", "echo", **{"with": {"i": "${{ iteration }}"}}))
    doc["outputs"] = {"last": "${{ steps.lp.output.tick.params.i }}"}
    options = None if FULL else {"options": {"history_limit": limit, "reserve_drain": True}}
    async with worker(client) as w:
        h = await start(client, w, doc, carry=options)
        result = await h.result()
        st = await h.query(TemplateWorkflow.status)
        lengths = await _execution_lengths(client, h)
    assert result == {"last": n - 1}
    assert st.steps["lp"].body is not None and st.steps["lp"].body.counts == {"succeeded": n}
    assert len(st.model_dump_json()) < 20_000  # the status document stays small
    assert len(lengths) > 1 and max(lengths) < limit, lengths
