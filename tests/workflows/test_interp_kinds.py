"""One test group per step kind: gate, wait, set, foreach, loop, subflow, fail."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from temporalio.client import Client, WorkflowFailureError
from temporalio.testing import WorkflowEnvironment

from tests.workflows.interp_support import GATES, PEAK, act, plan, run, start, worker
from workflows.engine import search_attributes as sa
from workflows.engine.workflow import TemplateWorkflow


def w(**kw: object) -> dict[str, object]:
    return {"with": kw}


async def test_gate_continue_abort(client: Client) -> None:
    doc = {
        "steps": [
            {"id": "ok", "gate": {"check": "input.n > 1"}},
            {"id": "soft", "gate": {"check": "input.n > 5", "on_fail": "continue"}},
            act("after", depends_on=["soft"]),
        ],
        "outputs": {"passed": "${{ steps.soft.output.passed }}"},
    }
    result, st = await run(client, doc, {"n": 3})
    assert result == {"passed": False}
    assert st.steps["ok"].output == {"passed": True}
    assert st.steps["soft"].state == "succeeded" and "input.n > 5" in st.steps["soft"].error
    assert st.steps["after"].state == "succeeded"
    doc = {
        "steps": [
            {"id": "hard", "gate": {"check": "input.n > 5", "on_fail": "abort"}},
            act("after", depends_on=["hard"]),
        ]
    }
    result, st = await run(client, doc, {"n": 3})
    assert isinstance(result, WorkflowFailureError)
    assert st.steps["hard"].state == "failed" and st.steps["after"].state == "skipped"


async def test_gate_pause_until_resume(client: Client) -> None:
    doc = {
        "steps": [
            {"id": "g", "gate": {"check": "false", "on_fail": "pause"}},
            act("after", depends_on=["g"]),
        ]
    }
    async with worker(client) as wk:
        h = await start(client, wk, doc)
        for _ in range(100):
            st = await h.query(TemplateWorkflow.status)
            if st.steps["g"].state == "waiting":
                break
            await asyncio.sleep(0.05)
        assert st.state == "paused" and st.steps["after"].state == "pending"
        await h.signal(TemplateWorkflow.resume)
        await h.result()
        st = await h.query(TemplateWorkflow.status)
    assert st.steps["g"].output == {"passed": False, "resumed": True}
    assert st.steps["after"].state == "succeeded"


async def test_wait_duration_time_skipping(ts_env: WorkflowEnvironment) -> None:
    doc = {"steps": [{"id": "w", "wait": {"duration": "2d"}}, act("after", depends_on=["w"])]}
    async with worker(ts_env.client) as wk:
        h = await start(ts_env.client, wk, doc)
        await h.result()
        st = await h.query(TemplateWorkflow.status)
    assert st.steps["w"].finished_at - st.steps["w"].started_at >= timedelta(days=2)


async def test_wait_until_past_and_future(client: Client) -> None:
    past = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    soon = (datetime.now(UTC) + timedelta(seconds=1)).isoformat().replace("+00:00", "Z")
    doc = {
        "steps": [
            {"id": "p", "wait": {"until": "input.past"}},
            {"id": "s", "wait": {"until": "${{ input.soon }}"}},
            {"id": "bad", "wait": {"until": "input.n"}, "optional": True},
        ]
    }
    result, st = await run(client, doc, {"past": past, "soon": soon, "n": 3})
    assert st.steps["p"].state == "succeeded"
    assert st.steps["s"].finished_at >= datetime.fromisoformat(soon)
    assert st.steps["bad"].state == "failed" and "ISO-8601" in st.steps["bad"].error


async def test_set_vars(client: Client) -> None:
    doc = {
        "steps": [
            {"id": "a", "set": {"total": "${{ input.n * 2 }}", "label": "n=${{ input.n }}"}},
            {"id": "b", "depends_on": ["a"], "set": {"more": "${{ vars.total + 1 }}"}},
        ],
        "outputs": {"vars": "${{ vars }}"},
    }
    result, st = await run(client, doc, {"n": 4})
    assert result == {"vars": {"label": "n=4", "more": 9, "total": 8}}
    assert st.steps["a"].output == {"total": 8, "label": "n=4"}


async def test_foreach_outputs_addresses_concurrency(client: Client) -> None:
    name = "fe"
    GATES[name] = asyncio.Event()
    GATES[name].set()
    doc = {
        "steps": [
            {
                "id": "each",
                "foreach": {
                    "items": "input.xs",
                    "concurrency": 2,
                    "steps": [
                        act("hold", "block", **w(name=name)),
                        act(
                            "e",
                            depends_on=["hold"],
                            **w(x="${{ item }}", i="${{ index }}", prev="${{ steps.hold.state }}"),
                        ),
                    ],
                },
            }
        ],
        "outputs": {"xs": "${{ steps.each.output.map(o, o.e.params.x) }}"},
    }
    result, st = await run(client, doc, {"xs": ["a", "b", "c", "d", "e"]})
    assert result == {"xs": ["a", "b", "c", "d", "e"]}
    assert PEAK[name] <= 2
    assert st.steps["each[3].e"].output["params"] == {"x": "d", "i": 3, "prev": "succeeded"}
    assert st.steps["each[3].e"].output["key"].endswith("/each[3].e")
    assert st.steps["each"].output[0]["hold"] == {"released": name}


async def test_foreach_item_failure_fails_step(client: Client) -> None:
    doc = {
        "steps": [
            {
                "id": "each",
                "foreach": {
                    "items": "input.xs",
                    "steps": [
                        act(
                            "e",
                            "flaky",
                            **w(fatal="${{ item == 2 }}", message="item ${{ item }} bad"),
                        )
                    ],
                },
            },
            act("after", depends_on=["each"]),
        ]
    }
    result, st = await run(client, doc, {"xs": [1, 2, 3]})
    assert isinstance(result, WorkflowFailureError)
    assert st.steps["each"].error == "each[1].e: item 2 bad"
    # the run names the nested step that failed, not just the foreach
    assert st.failed_step == "each[1].e" and st.error == "step 'each[1].e' failed: item 2 bad"
    assert result.cause.details == ("each[1].e",)
    assert st.steps["after"].state == "skipped"
    doc["steps"][0]["foreach"]["items"] = "input.xs.size()"
    result, st = await run(client, doc, {"xs": [1]})
    assert "must give a list" in st.steps["each"].error


async def test_loop_until_and_max_iterations(client: Client) -> None:
    doc = {
        "steps": [
            {
                "id": "lp",
                "loop": {
                    "until": "steps.bump.output.i >= 3",
                    "max_iterations": 10,
                    "steps": [{"id": "bump", "set": {"i": "${{ iteration + 1 }}"}}],
                },
            }
        ],
        "outputs": {"last": "${{ steps.lp.output }}", "i": "${{ vars.i }}"},
    }
    result, st = await run(client, doc)
    assert result == {"last": {"bump": {"i": 3}}, "i": 3}
    assert st.steps["lp[2].bump"].state == "succeeded" and "lp[3].bump" not in st.steps
    doc["steps"][0]["loop"]["max_iterations"] = 2
    result, st = await run(client, doc)
    assert isinstance(result, WorkflowFailureError)
    assert "max_iterations=2" in st.steps["lp"].error


async def test_subflow_child_outputs_and_failure(client: Client) -> None:
    child = plan(
        {
            "name": "child",
            "steps": [act("c", **w(v="${{ input.v }}"))],
            "outputs": {"got": "${{ steps.c.output.params.v }}"},
        },
        version=2,
    )
    bad = plan({"name": "bad", "steps": [{"id": "f", "fail": {"message": "no ${{ input.v }}"}}]})
    doc = {
        "steps": [
            {"id": "sub", "subflow": {"template": "child", "input": {"v": "${{ input.v }}"}}},
            {
                "id": "pinned",
                "subflow": {"template": "bad", "version": 1, "input": {"v": "x"}},
                "optional": True,
            },
        ],
        "outputs": {"child": "${{ steps.sub.output }}"},
    }
    result, st = await run(
        client,
        doc,
        {"v": 7},
        run_id="parent-sub",
        subflows={"child@2": child, "bad@1": bad},
        subflow_versions={"child": 2},
    )
    assert result == {"child": {"got": 7}}
    # the child run's error names its own failed step
    assert st.steps["pinned"].state == "failed"
    assert st.steps["pinned"].error == "step 'f' failed: no x"
    h = client.get_workflow_handle("parent-sub.sub")
    desc = await h.describe()
    assert desc.workflow_type == "TemplateWorkflow"
    attrs = desc.typed_search_attributes
    assert attrs.get(sa.TEMPLATE_NAME) == "child" and attrs.get(sa.TEMPLATE_VERSION) == 2
    assert attrs.get(sa.RUN_STATE) == "running"


async def test_fail_step(client: Client) -> None:
    doc = {
        "steps": [
            act("a"),
            {
                "id": "stop",
                "depends_on": ["a"],
                "fail": {"message": "stopped after ${{ steps.a.state }}"},
            },
        ]
    }
    result, st = await run(client, doc)
    assert isinstance(result, WorkflowFailureError)
    assert result.cause.message == "step 'stop' failed: stopped after succeeded"
    assert st.steps["stop"].state == "failed"
