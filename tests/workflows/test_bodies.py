"""Foreach `tolerated_failures` (SPEC §2) and the pruning of finished items/iterations
from the status document (workflows.engine.bodies), redrive included (SPEC §9)."""

from __future__ import annotations

import uuid
from typing import Any

from temporalio.client import Client, WorkflowFailureError

from tests.workflows.interp_support import act, start, worker
from tests.workflows.recovery_support import ACTIVITIES, BROKEN, SWITCH_CALLS, redrive_run
from tests.workflows.test_recovery_engine import finish
from workflows.kinds.foreach import allowed_failures


def fe_doc(tag: str, tolerated: int | str, concurrency: int = 1) -> dict[str, Any]:
    return {
        "steps": [
            {
                "id": "fe",
                "foreach": {
                    "items": "input.xs",
                    "concurrency": concurrency,
                    "tolerated_failures": tolerated,
                    "steps": [
                        act("call", "switch", **{"with": {"name": f"${{{{ '{tag}-' + string(item) }}}}"}})
                    ],
                },
            },
            act("after", "noop", depends_on=["fe"]),
        ],
        "outputs": {"out": "${{ steps.fe.output.map(o, o == null ? -1 : o.call.params.name) }}"},
    }


def test_allowed_failures() -> None:
    assert allowed_failures(0, 10) == 0 and allowed_failures(3, 10) == 3
    assert allowed_failures("20%", 10) == 2 and allowed_failures("15%", 10) == 1
    assert allowed_failures("100%", 7) == 7


async def test_failures_within_tolerance_succeed_with_nulls(client: Client) -> None:
    tag = uuid.uuid4().hex[:6]
    BROKEN.update({f"{tag}-2", f"{tag}-5"})
    async with worker(client, activities=ACTIVITIES) as w:
        result, st = await finish(await start(client, w, fe_doc(tag, "20%"), {"xs": list(range(10))}))
    assert st.state == "completed", st.error
    assert st.steps["fe"].state == "succeeded" and st.steps["fe"].failed_items == [2, 5]
    assert [o is None for o in st.steps["fe"].output] == [i in (2, 5) for i in range(10)]
    assert result["out"][2] == -1 and result["out"][3] == f"{tag}-3"
    assert st.steps["fe[2].call"].state == "failed" and st.steps["after"].state == "succeeded"
    assert st.steps["fe"].body is not None
    assert st.steps["fe"].body.counts == {"succeeded": 8, "failed": 2}


async def test_failures_beyond_tolerance_fail_the_step(client: Client) -> None:
    tag = uuid.uuid4().hex[:6]
    BROKEN.update({f"{tag}-2", f"{tag}-5", f"{tag}-6"})
    async with worker(client, activities=ACTIVITIES) as w:
        result, st = await finish(await start(client, w, fe_doc(tag, 1), {"xs": list(range(10))}))
    assert isinstance(result, WorkflowFailureError)
    fe = st.steps["fe"]
    assert fe.state == "failed" and fe.failed_items == [2, 5]
    assert fe.error.startswith("2 of 10 items failed, more than tolerated_failures=1 allows")
    assert "fe[2].call" in fe.error
    assert "fe[6].call" not in st.steps  # nothing started after the failure too many
    assert st.steps["after"].state == "skipped"


async def test_status_document_keeps_the_last_bodies_and_counts_the_rest(client: Client) -> None:
    n = 30
    doc = {
        "steps": [
            {
                "id": "lp",
                "loop": {
                    "until": f"iteration + 1 >= {n}",
                    "max_iterations": n,
                    "steps": [{"id": "b", "set": {"i": "${{ iteration }}"}}],
                },
            }
        ],
        "outputs": {"i": "${{ vars.i }}"},
    }
    async with worker(client) as w:
        h = await start(client, w, doc, carry={"options": {"keep_bodies": 3}})
        result, st = await finish(h)
    assert result == {"i": n - 1}
    assert sorted(k for k in st.steps if k.startswith("lp[")) == [f"lp[{i}].b" for i in (27, 28, 29)]
    body = st.steps["lp"].body
    assert body is not None and body.counts == {"succeeded": n} and body.pruned == n - 3
    assert body.vars == {"i": n - 4}  # the last pruned iteration's write


def named(id: str, prefix: str, var: str) -> dict[str, Any]:
    return act(id, "switch", **{"with": {"name": f"${{{{ '{prefix}' + string({var}) }}}}"}})


async def test_redrive_keeps_the_pruned_items_that_succeeded(client: Client) -> None:
    tag = uuid.uuid4().hex[:6]
    bad = {3, 7, 12}
    doc = {
        "steps": [
            {
                "id": "fe",
                "foreach": {
                    "items": "input.xs",
                    "concurrency": 20,
                    "steps": [named("call", f"{tag}-", "item")],
                },
            },
        ],
        "outputs": {"names": "${{ steps.fe.output.map(o, o.call.params.name) }}"},
    }
    BROKEN.update(f"{tag}-{i}" for i in bad)
    async with worker(client, activities=ACTIVITIES) as w:
        h = await start(client, w, doc, {"xs": list(range(20))}, carry={"options": {"keep_bodies": 2}})
        result, st = await finish(h)
        assert st.steps["fe"].state == "failed" and st.steps["fe"].failed_items == sorted(bad)
        body = st.steps["fe"].body
        assert body is not None and body.outputs is not None and body.pruned >= 10
        assert set(body.outputs) <= set(range(20)) - bad
        assert body.pruned - 1 <= len(body.outputs) <= body.pruned  # one pruned may be failed
        BROKEN.difference_update(f"{tag}-{i}" for i in bad)
        result, st = await finish(await redrive_run(client, w, h.id))
    assert st.state == "completed", st.error
    assert result == {"names": [f"{tag}-{i}" for i in range(20)]}
    assert {i: SWITCH_CALLS[f"{h.id}/fe[{i}].call"] for i in range(20)} == {
        i: 2 if i in bad else 1 for i in range(20)
    }


async def test_redrive_keeps_what_pruned_iterations_wrote(client: Client) -> None:
    tag = uuid.uuid4().hex[:6]
    doc = {
        "steps": [
            {
                "id": "lp",
                "loop": {
                    "until": "iteration >= 5",
                    "max_iterations": 6,
                    "steps": [
                        {"id": "first", "when": "iteration == 0", "set": {"first": "yes"}},
                        named("c", f"{tag}-", "iteration"),
                    ],
                },
            },
        ],
        "outputs": {"first": "${{ vars.first }}"},
    }
    BROKEN.add(f"{tag}-4")
    async with worker(client, activities=ACTIVITIES) as w:
        h = await start(client, w, doc, carry={"options": {"keep_bodies": 2}})
        result, st = await finish(h)
        assert st.failed_step == "lp[4].c" and "lp[0].first" not in st.steps
        assert st.steps["lp"].body is not None and st.steps["lp"].body.vars == {"first": "yes"}
        BROKEN.discard(f"{tag}-4")
        result, st = await finish(await redrive_run(client, w, h.id))
    assert st.state == "completed", st.error
    assert result == {"first": "yes"}
    assert [SWITCH_CALLS[f"{h.id}/lp[{i}].c"] for i in range(6)] == [1, 1, 1, 1, 2, 1]
