"""Recovery in the interpreter (SPEC §9), on the dev server: redrive carrying what
succeeded (top level, foreach items, loop iterations, subflow children), `on_failure:
hold` with the `resolve` update, and the run deadline. The API side (and the HTTP
receivers behind connections) is tested in tests/api/test_recovery*.py."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from temporalio.client import (
    Client,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowUpdateFailedError,
)
from temporalio.exceptions import ApplicationError

from tests.workflows.interp_support import act, plan, start, worker
from tests.workflows.recovery_support import ACTIVITIES, BROKEN, SWITCH_CALLS, redrive_run
from workflows.engine import search_attributes as sa
from workflows.engine.io import ResolveInput, RunStatus
from workflows.engine.workflow import TemplateWorkflow


def sw(id: str, name: str, **kw: Any) -> dict[str, Any]:
    return act(id, "switch", **{"with": {"name": name}}, **kw)


async def finish(h: WorkflowHandle[Any, Any]) -> tuple[Any, RunStatus]:
    try:
        result: Any = await h.result()
    except WorkflowFailureError as e:
        result = e
    return result, await h.query(TemplateWorkflow.status)


def calls(run_id: str, address: str) -> int:
    return SWITCH_CALLS[f"{run_id}/{address}"]


async def test_redrive_runs_only_what_did_not_succeed(client: Client) -> None:
    down = f"down-{uuid.uuid4().hex[:6]}"
    doc = {
        "steps": [
            sw("s1", "one"),
            {"id": "mark", "depends_on": ["s1"], "set": {"m": "${{ steps.s1.output.params.name }}"}},
            sw("s2", "two", depends_on=["mark"]),
            sw("s3", down, depends_on=["s2"]),
            act("s4", "switch", depends_on=["s3"], **{"with": {"name": "four", "m": "${{ vars.m }}"}}),
            sw("cleanup", "tidy", depends_on=["s3"], run_if="all_done"),
        ],
        "outputs": {"m": "${{ steps.s4.output.params.m }}"},
    }
    BROKEN.add(down)
    async with worker(client, activities=ACTIVITIES) as w:
        h = await start(client, w, doc)
        result, st = await finish(h)
        assert isinstance(result, WorkflowFailureError)
        assert st.failed_step == "s3" and st.error == f"step 's3' failed: ['{down}'] is down"
        assert st.redrive == 0
        BROKEN.discard(down)
        h2 = await redrive_run(client, w, h.id)
        result, st = await finish(h2)
    assert result == {"m": "one"}  # vars carried from the set step that did not run again
    assert st.state == "completed" and st.redrive == 1 and st.error is None
    assert [calls(h.id, s) for s in ("s1", "s2", "s3", "s4")] == [1, 1, 2, 1]
    assert calls(h.id, "cleanup") == 2  # non-default run_if: evaluated anew, never carried
    assert st.steps["s1"].carried and st.steps["mark"].carried and st.steps["s2"].carried
    assert not st.steps["s3"].carried and not st.steps["cleanup"].carried
    # one run id, two executions
    assert (await client.get_workflow_handle(h.id).describe()).run_id == h2.result_run_id


async def test_redrive_of_a_foreach_reruns_only_the_failed_items(client: Client) -> None:
    tag = uuid.uuid4().hex[:6]
    bad = {3, 7, 12}
    doc = {
        "steps": [
            {
                "id": "fe",
                "foreach": {
                    "items": "input.xs",
                    "concurrency": 20,
                    "steps": [sw("call", f"${{{{ '{tag}-' + string(item) }}}}")],
                },
            }
        ],
        "outputs": {"n": "${{ size(steps.fe.output) }}"},
    }
    BROKEN.update(f"{tag}-{i}" for i in bad)
    async with worker(client, activities=ACTIVITIES) as w:
        h = await start(client, w, doc, {"xs": list(range(20))})
        result, st = await finish(h)
        assert isinstance(result, WorkflowFailureError)
        assert st.failed_step in {f"fe[{i}].call" for i in bad}
        BROKEN.difference_update(f"{tag}-{i}" for i in bad)
        result, st = await finish(await redrive_run(client, w, h.id))
    assert result == {"n": 20}, (st.error, st.failed_step)
    assert {i: calls(h.id, f"fe[{i}].call") for i in range(20)} == {
        i: 2 if i in bad else 1 for i in range(20)
    }
    assert all(st.steps[f"fe[{i}].call"].carried == (i not in bad) for i in range(20))


async def test_redrive_of_a_loop_resumes_at_the_failed_iteration(client: Client) -> None:
    tag = uuid.uuid4().hex[:6]
    doc = {
        "steps": [
            {
                "id": "lp",
                "loop": {
                    "until": "iteration >= 3",
                    "max_iterations": 5,
                    "steps": [sw("c", f"${{{{ '{tag}-' + string(iteration) }}}}")],
                },
            }
        ]
    }
    BROKEN.add(f"{tag}-2")
    async with worker(client, activities=ACTIVITIES) as w:
        h = await start(client, w, doc)
        result, st = await finish(h)
        assert st.failed_step == "lp[2].c"
        BROKEN.discard(f"{tag}-2")
        result, st = await finish(await redrive_run(client, w, h.id))
    assert st.state == "completed"
    assert [calls(h.id, f"lp[{i}].c") for i in range(4)] == [1, 1, 2, 1]
    assert st.steps["lp[0].c"].carried and not st.steps["lp[3].c"].carried


async def test_redrive_redrives_a_failed_subflow_child(client: Client) -> None:
    down = f"child-{uuid.uuid4().hex[:6]}"
    child = plan({"name": "child", "steps": [sw("c1", "ok"), sw("c2", down, depends_on=["c1"])]})
    doc = {"steps": [sw("before", "ok"), {"id": "sub", "depends_on": ["before"], "subflow": {"template": "child"}}]}
    BROKEN.add(down)
    run_id = f"sub-{uuid.uuid4().hex[:6]}"
    async with worker(client, activities=ACTIVITIES) as w:
        h = await start(
            client, w, doc, run_id=run_id,
            subflows={"child@1": child}, subflow_versions={"child": 1},
        )
        result, st = await finish(h)
        assert st.error == f"step 'sub' failed: step 'c2' failed: ['{down}'] is down"
        BROKEN.discard(down)
        result, st = await finish(await redrive_run(client, w, run_id))
        kid = await client.get_workflow_handle(f"{run_id}.sub").query(TemplateWorkflow.status)
    assert st.state == "completed" and kid.state == "completed" and kid.redrive == 1
    child_id = f"{run_id}.sub"
    assert calls(child_id, "c1") == 1 and calls(child_id, "c2") == 2  # the child's success kept
    assert calls(run_id, "before") == 1 and kid.steps["c1"].carried


# -- incidents -------------------------------------------------------------------------


async def _until(h: WorkflowHandle[Any, Any], state: str) -> RunStatus:
    for _ in range(200):
        st = await h.query(TemplateWorkflow.status)
        if st.state == state:
            return st
        await asyncio.sleep(0.05)
    raise AssertionError(f"never {state}: {st}")


def held_doc(name: str, **extra: Any) -> dict[str, Any]:
    return {
        "steps": [
            sw("a", name, on_failure="hold", sla=[{"after": "1s", "level": "page"}]),
            sw("b", "independent"),
            act("c", "switch", depends_on=["a"], **{"with": {"name": "c", "got": "${{ steps.a.output }}"}}),
        ],
        **extra,
    }


async def test_held_step_retry_with_patched_arguments(client: Client) -> None:
    down = f"held-{uuid.uuid4().hex[:6]}"
    BROKEN.add(down)
    async with worker(client, activities=ACTIVITIES) as w:
        h = await start(client, w, held_doc(down))
        st = await _until(h, "held")
        assert st.steps["a"].state == "held" and st.steps["a"].error == f"['{down}'] is down"
        assert st.steps["a"].attempts == 1 and st.steps["a"].incidents
        st = await _until_step(h, "b", "succeeded")  # independent branches go on
        attrs = (await h.describe()).typed_search_attributes
        assert attrs.get(sa.RUN_STATE) == "held"
        assert attrs.get(sa.ASSIGNEES) == ["role:operator"]
        # the validator refuses what cannot apply (nothing written to history)
        with pytest.raises(WorkflowUpdateFailedError) as e:
            await h.execute_update(TemplateWorkflow.resolve, ResolveInput(step="b", action="retry", actor="olga"))
        assert isinstance(e.value.cause, ApplicationError) and e.value.cause.type == "NotHeld"
        with pytest.raises(WorkflowUpdateFailedError) as e:
            await h.execute_update(
                TemplateWorkflow.resolve,
                ResolveInput(step="a", action="skip", actor="olga", **{"with": {"name": "x"}}),
            )
        assert e.value.cause.type == "InvalidResolution"  # type: ignore[attr-defined]
        await _until_sla(h, "a", "page")  # the held step's SLA levels keep running
        new = await h.execute_update(
            TemplateWorkflow.resolve,
            ResolveInput(step="a", action="retry", actor="olga", comment="fixed", **{"with": {"name": "patched"}}),
        )
        assert new.state in ("running", "succeeded")
        result, st = await finish(h)
        attrs = (await h.describe()).typed_search_attributes
    assert st.state == "completed", st.error
    assert st.steps["a"].output == {"params": {"name": "patched"}}
    assert st.steps["c"].output["params"]["got"] == {"params": {"name": "patched"}}
    incident = st.steps["a"].incidents[0]  # type: ignore[index]
    assert (incident.action, incident.actor, incident.comment) == ("retry", "olga", "fixed")
    assert incident.with_ == {"name": "patched"} and incident.error == f"['{down}'] is down"
    assert not attrs.get(sa.ASSIGNEES)  # role:operator left with the last held step
    BROKEN.discard(down)


async def _until_step(h: WorkflowHandle[Any, Any], step: str, state: str) -> RunStatus:
    for _ in range(200):
        st = await h.query(TemplateWorkflow.status)
        if st.steps[step].state == state:
            return st
        await asyncio.sleep(0.05)
    raise AssertionError(f"{step} never {state}")


async def _until_sla(h: WorkflowHandle[Any, Any], step: str, level: str) -> None:
    for _ in range(100):
        st = await h.query(TemplateWorkflow.status)
        if st.steps[step].sla_level == level:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"SLA {level} of {step} never fired")


async def test_held_step_skip_feeds_downstream_and_fail_fails(client: Client) -> None:
    down = f"skip-{uuid.uuid4().hex[:6]}"
    BROKEN.add(down)
    async with worker(client, activities=ACTIVITIES) as w:
        h = await start(client, w, held_doc(down))
        await _until(h, "held")
        new = await h.execute_update(
            TemplateWorkflow.resolve,
            ResolveInput(step="a", action="skip", actor="admin", output={"v": 1}),
        )
        assert new.state == "skipped" and new.output == {"v": 1}
        result, st = await finish(h)
        assert st.state == "completed"
        assert st.steps["c"].output["params"]["got"] == {"v": 1}  # skip counts as satisfied
        # the template default holds too; `fail` fails as if held were never set
        doc = held_doc(down, on_failure="hold")
        del doc["steps"][0]["on_failure"]
        h = await start(client, w, doc)
        await _until(h, "held")
        new = await h.execute_update(
            TemplateWorkflow.resolve, ResolveInput(step="a", action="fail", actor="olga")
        )
        assert new.state == "failed"
        result, st = await finish(h)
    assert isinstance(result, WorkflowFailureError)
    assert st.error == f"step 'a' failed: ['{down}'] is down" and st.steps["c"].state == "skipped"
    BROKEN.discard(down)


async def test_deadline_cancels_runs_cleanup_and_fails(client: Client) -> None:
    doc = {
        "deadline": "2s",
        "steps": [
            {"id": "w", "wait": {"duration": "1m"}},
            act("after", depends_on=["w"]),
            act("cleanup", depends_on=["w"], run_if="all_done"),
        ],
    }
    async with worker(client, activities=ACTIVITIES) as w:
        result, st = await finish(await start(client, w, doc))
    assert isinstance(result, WorkflowFailureError)
    cause = result.cause
    assert isinstance(cause, ApplicationError) and cause.type == "DeadlineExceeded"
    assert cause.message == "run deadline 2s exceeded" == st.error
    assert st.steps["w"].state == "cancelled" and st.steps["cleanup"].state == "succeeded"
    assert st.steps["after"].state == "cancelled" and st.state == "failed"


# -- the language -----------------------------------------------------------------------


def test_on_failure_and_deadline_are_checked_at_save() -> None:
    from tests.helpers.language import validate_template

    doc = {
        "name": "t",
        "on_failure": "hold",
        "deadline": "2h",
        "steps": [
            {"id": "a", "action": "log", "with": {"message": "x"}, "on_failure": "hold"},
            {"id": "b", "fail": {"message": "no"}, "on_failure": "hold"},
            {"id": "fe", "foreach": {"items": "[1]", "steps": [
                {"id": "e", "action": "log", "with": {"message": "x"}, "on_failure": "hold"}
            ]}, "on_failure": "hold"},
        ],
    }
    found = {f.loc: f.msg for f in validate_template(doc).findings}
    assert set(found) == {"steps[1].on_failure", "steps[2].on_failure"}
    assert "fails on purpose" in found["steps[1].on_failure"]
    assert "nested steps can be held" in found["steps[2].on_failure"]
    bad = {**doc, "deadline": "0s", "on_failure": "later", "steps": doc["steps"][:1]}
    found = {f.loc: f.msg for f in validate_template(bad).findings}
    assert set(found) == {"deadline", "on_failure"}


async def test_unused_recovery_fields_cost_no_history_events(client: Client) -> None:
    """`on_failure: hold` on steps that succeed costs nothing: same events as without it."""
    steps = [sw(f"s{i}", "ok", **({"depends_on": [f"s{i - 1}"]} if i else {})) for i in range(3)]
    held = [{**s, "on_failure": "hold"} for s in steps]
    async with worker(client, activities=ACTIVITIES) as w:
        plain = await start(client, w, {"steps": steps})
        await plain.result()
        holding = await start(client, w, {"steps": held})
        await holding.result()
    a = [e.event_type for e in (await plain.fetch_history()).events]
    b = [e.event_type for e in (await holding.fetch_history()).events]
    assert a == b


async def test_a_held_step_stays_held_across_continue_as_new(client: Client) -> None:
    down = f"can-{uuid.uuid4().hex[:6]}"
    BROKEN.add(down)
    doc = {
        "steps": [
            sw("a", down, on_failure="hold"),
            {"id": "lp", "loop": {"until": "iteration >= 7", "max_iterations": 8,
                                  "steps": [act("e", **{"with": {"i": "${{ iteration }}"}})]}},
            sw("after", "ok", depends_on=["a", "lp"]),
        ]
    }
    async with worker(client, activities=ACTIVITIES) as w:
        h = await start(client, w, doc, carry={"options": {"history_limit": 25}})
        for _ in range(300):  # the loop continues as new while `a` is held
            st = await h.query(TemplateWorkflow.status)
            chain = (await h.describe()).run_id != h.first_execution_run_id
            if chain and st.steps["lp"].state == "succeeded":
                break
            await asyncio.sleep(0.05)
        assert chain and st.state == "held" and st.steps["a"].state == "held"
        assert len(st.steps["a"].incidents or []) == 1
        attrs = (await h.describe()).typed_search_attributes
        assert attrs.get(sa.ASSIGNEES) == ["role:operator"] and attrs.get(sa.RUN_STATE) == "held"
        BROKEN.discard(down)
        h = client.get_workflow_handle(h.id)
        await h.execute_update(
            TemplateWorkflow.resolve, ResolveInput(step="a", action="retry", actor="olga")
        )
        result, st = await finish(h)
    assert st.state == "completed" and st.steps["after"].state == "succeeded"
    assert calls(h.id, "a") == 2


async def test_the_deadline_is_carried_across_continue_as_new(client: Client) -> None:
    """After a continue-as-new the deadline timer waits only for what is left."""
    doc = {
        "deadline": "5s",
        "steps": [
            {"id": "lp", "loop": {"until": "iteration >= 7", "max_iterations": 8,
                                  "steps": [act("e", **{"with": {"i": "${{ iteration }}"}})]}},
            {"id": "w", "depends_on": ["lp"], "wait": {"duration": "1m"}},
        ],
    }
    async with worker(client, activities=ACTIVITIES) as w:
        h = await start(client, w, doc, carry={"options": {"history_limit": 25}})
        result, st = await finish(client.get_workflow_handle(h.id))
        last = await client.get_workflow_handle(h.id).fetch_history()
    assert isinstance(result, WorkflowFailureError) and st.error == "run deadline 5s exceeded"
    assert last.run_id != h.first_execution_run_id  # it did continue as new
    timers = [
        e.timer_started_event_attributes
        for e in last.events
        if e.HasField("timer_started_event_attributes")
    ]
    deadline = [t for t in timers if t.start_to_fire_timeout.ToTimedelta().total_seconds() < 60]
    assert deadline and deadline[0].start_to_fire_timeout.ToTimedelta().total_seconds() < 5
