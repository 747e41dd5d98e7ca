"""Core interpreter semantics: DAG scheduling, run_if/when, failures, outputs, status."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ApplicationError

from tests.workflows.interp_support import ACTIVE, CALLS, GATES, PEAK, act, run, start, worker
from workflows.engine import search_attributes as sa
from workflows.engine.workflow import TemplateWorkflow


async def test_linear_actions_outputs_and_scope(client: Client) -> None:
    doc = {
        "steps": [
            act("a", with_={"x": "${{ input.n + 1 }}"}),
            act(
                "b",
                depends_on=["a"],
                with_={
                    "prev": "${{ steps.a.output.params.x }}",
                    "who": "${{ run.template }}@${{ run.version }}",
                },
            ),
        ],
        "outputs": {
            "x": "${{ steps.b.output.params.prev }}",
            "state": "${{ steps.a.state }}",
            "key": "${{ steps.b.output.key }}",
        },
    }
    # `with_` is the model's alias-free name; the YAML key is `with`
    for s in doc["steps"]:
        s["with"] = s.pop("with_")
    result, status = await run(
        client,
        doc,
        {"n": 41},
    )
    assert result["x"] == 42
    assert result["state"] == "succeeded"
    assert result["key"].endswith("/b")
    assert status.state == "completed"
    assert status.output == result
    assert status.steps["b"].output["params"]["who"] == "t@1"
    assert status.steps["a"].attempts == 1
    assert status.steps["a"].started_at is not None and status.steps["a"].finished_at is not None


async def test_parallel_steps_run_concurrently(client: Client) -> None:
    name = "par"
    GATES[name] = asyncio.Event()
    doc = {
        "steps": [
            act("a", "block", **{"with": {"name": name}}),
            act("b", "block", **{"with": {"name": name}}),
            act("c", "block", **{"with": {"name": name}}),
            act("join", depends_on=["a", "b", "c"]),
        ]
    }
    async with worker(client) as w:
        h = await start(client, w, doc)
        for _ in range(100):
            if PEAK[name] == 3:
                break
            await asyncio.sleep(0.05)
        st = await h.query(TemplateWorkflow.status)
        assert {st.steps[s].state for s in "abc"} == {"running"}
        assert st.steps["join"].state == "pending"
        GATES[name].set()
        await h.result()
    assert PEAK[name] == 3


async def test_run_if_and_when(client: Client) -> None:
    doc = {
        "steps": [
            act("a"),
            act("skipme", depends_on=["a"], when="input.big"),
            act("after_skip", depends_on=["skipme"]),  # all_succeeded: skipped dep -> skipped
            act("none_failed", depends_on=["skipme"], run_if="none_failed"),
            act("if_yes", depends_on=["a"], when="input.big"),
            act("if_no", depends_on=["a"], when="!input.big"),
            act("join", depends_on=["if_yes", "if_no"], run_if="any_succeeded"),
            act("cleanup", depends_on=["skipme"], run_if="all_done"),
            act(
                "decided",
                depends_on=["skipme"],
                run_if="none_failed",
                when="steps.skipme.decision == 'approved' || steps.skipme.state == 'skipped'",
            ),
        ]
    }
    result, st = await run(client, doc, {"big": False})
    states = {k: v.state for k, v in st.steps.items()}
    assert states == {
        "a": "succeeded",
        "skipme": "skipped",
        "after_skip": "skipped",
        "none_failed": "succeeded",
        "if_yes": "skipped",
        "if_no": "succeeded",
        "join": "succeeded",
        "cleanup": "succeeded",
        "decided": "succeeded",
    }
    assert st.steps["skipme"].attempts is None and st.steps["skipme"].output is None


async def test_failure_stops_new_steps_runs_cleanup_and_fails_run(client: Client) -> None:
    doc = {
        "steps": [
            act("bad", "flaky", **{"with": {"fatal": True, "message": "boom"}}),
            act(
                "slow", "flaky", **{"with": {"fail_times": 1}}, retry={"initial_interval": "100ms"}
            ),
            act("next", depends_on=["slow"]),  # never starts: the run is failing
            act("opt", "flaky", optional=True, **{"with": {"fatal": True}}),
            act("cleanup", depends_on=["bad", "next"], run_if="all_done"),
        ]
    }
    result, st = await run(client, doc)
    assert isinstance(result, WorkflowFailureError)
    cause = result.cause
    assert isinstance(cause, ApplicationError)
    # the run's error names the step (SPEC §9); the step keeps its own error
    assert cause.type == "StepFailed" and cause.message == "step 'bad' failed: boom"
    assert cause.details == ("bad",) and cause.non_retryable
    assert st.state == "failed" and st.error == "step 'bad' failed: boom"
    assert st.failed_step == "bad"
    assert st.steps["bad"].state == "failed" and st.steps["bad"].error == "boom"
    assert st.steps["bad"].attempts == 1
    assert st.steps["slow"].state == "succeeded" and st.steps["slow"].attempts == 2
    assert st.steps["next"].state == "skipped"
    assert st.steps["opt"].state == "failed"
    assert st.steps["cleanup"].state == "succeeded"


async def test_optional_failure_does_not_fail_run(client: Client) -> None:
    doc = {
        "steps": [
            act("opt", "flaky", optional=True, **{"with": {"fatal": True}}),
            act("after", depends_on=["opt"], run_if="none_failed"),
            act("always", depends_on=["opt"], run_if="all_done"),
        ],
        "outputs": {"err": "${{ steps.opt.error }}"},
    }
    result, st = await run(client, doc)
    assert result == {"err": "fatal"}
    assert st.steps["after"].state == "skipped"
    assert st.steps["always"].state == "succeeded"


async def test_retries_exhausted_counts_attempts(client: Client) -> None:
    doc = {
        "steps": [
            act(
                "f",
                "flaky",
                **{"with": {"fail_times": 5}},
                retry={"max_attempts": 3, "initial_interval": "50ms"},
            )
        ]
    }
    result, st = await run(client, doc)
    assert isinstance(result, WorkflowFailureError)
    assert st.steps["f"].attempts == 3
    assert st.steps["f"].error == "attempt 3 failed"


async def test_expression_error_fails_step(client: Client) -> None:
    doc = {
        "steps": [
            act("a", **{"with": {"x": "${{ input.missing.deeper }}"}}),
            act("b", when="input.n / 0 > 1"),
        ]
    }
    result, st = await run(client, doc, {"n": 1})
    assert isinstance(result, WorkflowFailureError)
    assert st.steps["a"].state == "failed" and "input.missing.deeper" in st.steps["a"].error
    assert st.steps["b"].state == "failed" and "input.n / 0" in st.steps["b"].error


async def test_idempotency_keys_and_status_query(client: Client) -> None:
    doc = {"steps": [act("a"), act("b", depends_on=["a"])]}
    result, st = await run(client, doc, run_id="idem-1-" + str(len(CALLS)))
    assert st.run_id.startswith("idem-1-")
    assert CALLS[f"{st.run_id}/a"] == 1 and CALLS[f"{st.run_id}/b"] == 1
    assert st.template == "t" and st.version == 1 and st.started_at is not None
    assert st.closed_at is not None


async def test_pause_and_resume(client: Client) -> None:
    name = "pause"
    GATES[name] = asyncio.Event()
    doc = {"steps": [act("a", "block", **{"with": {"name": name}}), act("b", depends_on=["a"])]}
    async with worker(client) as w:
        h = await start(client, w, doc)
        for _ in range(100):
            if ACTIVE[name]:
                break
            await asyncio.sleep(0.05)
        await h.signal(TemplateWorkflow.pause)
        st = await h.query(TemplateWorkflow.status)
        assert st.state == "paused"
        GATES[name].set()  # the running activity finishes while paused
        for _ in range(100):
            st = await h.query(TemplateWorkflow.status)
            if st.steps["a"].state == "succeeded":
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)
        st = await h.query(TemplateWorkflow.status)
        assert st.steps["a"].state == "succeeded" and st.steps["b"].state == "pending"
        assert st.state == "paused"
        desc = await h.describe()
        assert desc.typed_search_attributes.get(sa.RUN_STATE) == "paused"  # upserted on change
        await h.signal(TemplateWorkflow.resume)
        await h.result()
        st = await h.query(TemplateWorkflow.status)
        assert st.steps["b"].state == "succeeded"
        desc = await h.describe()
        assert desc.typed_search_attributes.get(sa.RUN_STATE) == "running"  # not "completed"
        events = [e.event_type for e in (await h.fetch_history()).events]
        assert events.count(EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES) == 2


async def test_failure_stops_running_loop_and_foreach_bodies(client: Client) -> None:
    doc = {
        "steps": [
            act(
                "bad", "flaky", **{"with": {"fatal": True, "message": "boom"}}, depends_on=["warm"]
            ),
            act("warm"),
            {"id": "lp", "loop": {"until": "false", "max_iterations": 500, "steps": [act("tick")]}},
            {
                "id": "fe",
                "foreach": {
                    "items": "[1, 2, 3, 4, 5, 6, 7, 8]",
                    "concurrency": 1,
                    "steps": [act("e")],
                },
            },
        ]
    }
    result, st = await run(client, doc)
    assert isinstance(result, WorkflowFailureError)
    assert result.cause.message == "step 'bad' failed: boom"
    assert st.steps["lp"].state == "cancelled" and "bad failed" in st.steps["lp"].error
    assert st.steps["fe"].state == "cancelled"
    assert len([k for k in st.steps if k.startswith("lp[")]) < 500


BODIES = ("fe[0]", "lp[0]", "nest[0].inner[0]")


async def _fail_while_bodies_run(client: Client, *, optional: bool) -> tuple[Any, Any]:
    """`bad` fails while the bodies' `e1` are blocked; then the bodies go on.

    Each body: `e1` (blocked) -> `e2`, an `all_done` cleanup `fin` after `e2`, and an
    optional step `o` failing at once (a nested optional failure stops nothing). Bodies:
    `fe[0]`, `lp[0]` and `nest[0].inner[0]` (a foreach inside a loop iteration).
    """
    body, trigger = f"body-{uuid.uuid4()}", f"trigger-{uuid.uuid4()}"
    GATES[body], GATES[trigger] = asyncio.Event(), asyncio.Event()
    steps = [
        act("e1", "block", **{"with": {"name": body}}),
        act("e2", depends_on=["e1"]),
        act("fin", depends_on=["e2"], run_if="all_done"),
        act("o", "flaky", optional=True, **{"with": {"fatal": True}}),
    ]
    inner = {"id": "inner", "foreach": {"items": "[1]", "steps": steps}}
    doc = {
        "steps": [
            act("g", "block", **{"with": {"name": trigger}}),
            act("bad", "flaky", depends_on=["g"], optional=optional, **{"with": {"fatal": True}}),
            {"id": "fe", "foreach": {"items": "[1]", "steps": steps}},
            {"id": "lp", "loop": {"until": "true", "max_iterations": 3, "steps": steps}},
            {"id": "nest", "loop": {"until": "true", "max_iterations": 3, "steps": [inner]}},
        ]
    }
    async with worker(client) as w:
        h = await start(client, w, doc)
        for _ in range(200):
            st = await h.query(TemplateWorkflow.status)
            if ACTIVE[body] == 3 and all(
                (o := st.steps.get(f"{b}.o")) and o.state == "failed" for b in BODIES
            ):
                break
            await asyncio.sleep(0.05)
        GATES[trigger].set()  # `bad` runs and fails while both bodies wait in `e1`
        for _ in range(200):
            if (await h.query(TemplateWorkflow.status)).steps["bad"].state == "failed":
                break
            await asyncio.sleep(0.05)
        GATES[body].set()
        try:
            result: Any = await h.result()
        except WorkflowFailureError as e:
            result = e
        return result, await h.query(TemplateWorkflow.status)


async def test_failure_stops_nested_steps_of_running_bodies(client: Client) -> None:
    result, st = await _fail_while_bodies_run(client, optional=False)
    assert isinstance(result, WorkflowFailureError)
    assert isinstance(result.cause, ApplicationError) and result.cause.details == ("bad",)
    assert st.state == "failed" and st.error == "step 'bad' failed: fatal"
    for b in BODIES:
        assert st.steps[f"{b}.e1"].state == "succeeded"  # was running: finishes
        assert st.steps[f"{b}.e2"].state == "skipped"  # ready after `bad` failed
        assert st.steps[f"{b}.fin"].state == "succeeded"  # run_if: all_done still runs
    stopped = "stopped: the run is failing (bad failed)"
    for s in ("fe", "lp", "nest", "nest[0].inner"):  # a stopped body ends its step cancelled
        assert (st.steps[s].state, st.steps[s].error) == ("cancelled", stopped)
    assert "lp[1].e1" not in st.steps and "nest[1].inner" not in st.steps


async def test_optional_failure_does_not_stop_nested_steps(client: Client) -> None:
    result, st = await _fail_while_bodies_run(client, optional=True)
    assert not isinstance(result, Exception), result
    assert st.state == "completed" and st.steps["bad"].state == "failed"
    for b in BODIES:
        assert st.steps[f"{b}.o"].state == "failed"
        assert st.steps[f"{b}.e2"].state == "succeeded"
    for s in ("fe", "lp", "nest", "nest[0].inner"):
        assert st.steps[s].state == "succeeded"
