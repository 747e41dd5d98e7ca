"""Approval steps end to end on the dev server: routing, quorum, the decide update/signal."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import yaml
from temporalio.client import (
    Client,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowUpdateFailedError,
)
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

from tests.workflows.approval_support import (
    approval,
    approval_worker,
    decide,
    directory,  # noqa: F401 - fixture
    reassign,
    status,
    tag,
    wait_for,
    waiting,
)
from tests.workflows.interp_support import act, start
from workflows.engine.io import DecideInput
from workflows.engine.search_attributes import ASSIGNEES

pytestmark = pytest.mark.usefixtures("directory")


def doc(*steps: dict[str, Any]) -> dict[str, Any]:
    return {"steps": list(steps)}


async def refused(
    h: WorkflowHandle[Any, Any], step: str, outcome: str, actor: str, **kw: Any
) -> str:
    with pytest.raises(WorkflowUpdateFailedError) as e:
        await decide(h, step, outcome, actor, **kw)
    cause = e.value.cause
    assert isinstance(cause, ApplicationError)
    return cause.type or ""


async def assignees_attr(h: WorkflowHandle[Any, Any]) -> list[str]:
    desc = await h.describe()
    return sorted(desc.typed_search_attributes.get(ASSIGNEES) or [])


async def test_role_routing_inbox_and_decision(client: Client) -> None:
    d = doc(
        approval("ok", assignees={"roles": ["manager"]}),
        act("after", depends_on=["ok"], when="steps.ok.decision == 'approved'"),
    )
    async with approval_worker(client) as w:
        h = await start(client, w, d)
        st = await waiting(h, "ok")
        assert st.state == "waiting"
        assert st.pending[0].assignees == ["user:ann", "user:bob", "role:manager"]
        assert st.pending[0].outcomes == ["approved", "rejected"]
        assert await assignees_attr(h) == ["role:manager", "user:ann", "user:bob"]
        # the inbox query of the API finds it by user and by role
        for key in ("user:bob", "role:manager"):
            query = f"ExecutionStatus = 'Running' AND Assignees = '{key}' AND WorkflowId = '{h.id}'"
            for _ in range(100):
                if [wf async for wf in client.list_workflows(query)]:
                    break
                await asyncio.sleep(0.1)
            else:
                raise AssertionError(f"{key} never listed")

        assert await refused(h, "ok", "approved", "cat") == "NotAssignee"
        assert await refused(h, "ok", "maybe", "ann") == "OutcomeNotAllowed"
        step = await decide(h, "ok", "approved", "bob", comment="fine")
        assert step.state == "succeeded" and step.decision == "approved"
        result = await h.result()
        assert result == {}
        st = await status(h)
        out = st.steps["ok"].output
        assert out["decision"] == "approved"
        assert [(x["actor"], x["outcome"], x["comment"]) for x in out["decisions"]] == [
            ("bob", "approved", "fine")
        ]
        assert st.steps["after"].state == "succeeded"
        assert st.pending == []
        assert await assignees_attr(h) == []
        # a decision after the run completed: the server refuses the update (API: 409)
        with pytest.raises(RPCError, match="completed"):
            await decide(h, "ok", "approved", "ann")


async def test_quorum_two_of_three_with_one_rejection(client: Client) -> None:
    d = doc(approval("q", assignees={"users": ["ann", "bob", "cat"]}, quorum=2))
    async with approval_worker(client) as w:
        h = await start(client, w, d)
        await waiting(h, "q")
        st = await decide(h, "q", "rejected", "ann")
        assert st.state == "waiting" and st.decision is None
        assert await refused(h, "q", "approved", "ann") == "AlreadyVoted"
        assert (await decide(h, "q", "approved", "bob")).state == "waiting"
        st = await decide(h, "q", "approved", "cat")
        assert st.state == "succeeded" and st.decision == "approved"
        await h.result()
        out = (await status(h)).steps["q"].output
        assert [x["actor"] for x in out["decisions"]] == ["ann", "bob", "cat"]


async def test_all_with_one_rejection(client: Client) -> None:
    d = doc(
        approval("a", assignees={"users": ["ann", "bob", "cat"]}, quorum="all"),
        approval("b", assignees={"users": ["ann"]}, depends_on=["a"]),
    )
    async with approval_worker(client) as w:
        h = await start(client, w, d)
        await waiting(h, "a")
        assert (await decide(h, "a", "approved", "ann")).state == "waiting"
        st = await decide(h, "a", "rejected", "bob")
        assert st.state == "succeeded" and st.decision == "rejected"  # rejected is a decision
        await waiting(h, "b")
        # the step is complete (the run is not): refused, nothing recorded
        assert await refused(h, "a", "approved", "cat") == "NotAwaitingDecision"
        assert await refused(h, "b", "approved", "cat") == "NotAssignee"
        await decide(h, "b", "approved", "ann")
        await h.result()


async def settled_history_length(h: WorkflowHandle) -> int:
    """History length once the workflow task that opened the task has been recorded."""
    last = -1
    for _ in range(50):
        n = len((await h.fetch_history()).events)
        if n == last:
            return n
        last = n
        await asyncio.sleep(0.1)
    raise AssertionError("history kept growing while the approval was waiting")


async def test_form_validation_failure_writes_nothing(client: Client) -> None:
    form = {
        "type": "object",
        "required": ["amount"],
        "properties": {"amount": {"type": "number", "minimum": 0}},
    }
    d = doc(approval("f", assignees={"users": ["ann"]}, form=form))
    async with approval_worker(client) as w:
        h = await start(client, w, d)
        await waiting(h, "f")
        before = await settled_history_length(h)
        assert await refused(h, "f", "approved", "ann", data={"amount": "lots"}) == "InvalidForm"
        assert await refused(h, "f", "approved", "ann") == "InvalidForm"
        assert len((await h.fetch_history()).events) == before  # rejected updates: no history
        st = await decide(h, "f", "approved", "ann", data={"amount": 12})
        assert st.output["decisions"][0]["data"] == {"amount": 12}
        await h.result()


async def test_forged_actor_via_raw_signal_is_ignored_and_recorded(client: Client) -> None:
    d = doc(approval("s", assignees={"users": ["ann"]}))
    async with approval_worker(client) as w:
        h = await start(client, w, d)
        await waiting(h, "s")
        await h.signal("decide", DecideInput(step="s", outcome="approved", actor="mallory"))
        await h.signal(
            "decide", DecideInput(step="s", outcome="approved", actor="mallory", as_admin=True)
        )
        await h.signal("decide", DecideInput(step="nope", outcome="approved", actor="ann"))
        st = await wait_for(
            h, lambda st: len((st.steps["s"].output or {}).get("rejected_decisions", [])) == 2
        )
        assert st.steps["s"].state == "waiting"
        rejected = st.steps["s"].output["rejected_decisions"]
        assert {(r["actor"], r["reason"]) for r in rejected} == {("mallory", "NotAssignee")}
        # the genuine assignee's signal decides
        await h.signal("decide", DecideInput(step="s", outcome="rejected", actor="ann"))
        await h.result()
        out = (await status(h)).steps["s"].output
        assert out["decision"] == "rejected"
        assert [x["actor"] for x in out["decisions"]] == ["ann"]
        assert len(out["rejected_decisions"]) == 2


async def test_admin_decides_once_and_is_recorded(client: Client) -> None:
    d = doc(approval("a", assignees={"users": ["ann", "bob"]}, quorum=2))
    async with approval_worker(client) as w:
        h = await start(client, w, d)
        await waiting(h, "a")
        assert (await decide(h, "a", "approved", "eve", as_admin=True)).state == "waiting"
        assert await refused(h, "a", "approved", "eve", as_admin=True) == "AlreadyVoted"
        st = await decide(h, "a", "approved", "ann")
        assert st.decision == "approved"
        assert [x["as_admin"] for x in st.output["decisions"]] == [True, False]
        await h.result()


async def test_reassign_replaces_assignees_and_restarts_the_count(client: Client) -> None:
    d = doc(approval("r", assignees={"users": ["ann", "bob"]}, quorum="all"))
    async with approval_worker(client) as w:
        h = await start(client, w, d)
        await waiting(h, "r")
        await decide(h, "r", "approved", "ann")
        with pytest.raises(WorkflowUpdateFailedError):
            await reassign(h, "r", "ops", as_operator=True)  # nobody to hand it to
        st = await reassign(h, "r", "ops", as_operator=True, roles=["director"])
        assert st.state == "waiting"
        cur = await status(h)
        assert cur.pending[0].assignees == ["user:dan", "role:director"]
        assert await assignees_attr(h) == ["role:director", "user:dan"]
        assert await refused(h, "r", "approved", "bob") == "NotAssignee"
        st = await decide(h, "r", "approved", "dan")
        assert st.decision == "approved"
        await h.result()
        out = (await status(h)).steps["r"].output
        rec = out["reassignments"][0]
        assert rec["actor"] == "ops" and rec["users"] == ["dan"] and rec["reason"] == "request"
        assert [v["actor"] for v in rec["discarded"]] == ["ann"]
        assert [v["actor"] for v in out["decisions"]] == ["dan"]


async def test_least_loaded_routing(client: Client, directory: Path) -> None:  # noqa: F811
    t = tag()
    role, r1, r2 = f"rev-{t}", f"r1-{t}", f"r2-{t}"
    directory.write_text(
        yaml.safe_dump({"users": [{"id": r1, "roles": [role]}, {"id": r2, "roles": [role]}]})
    )
    async with approval_worker(client) as w:
        busy = await start(client, w, doc(approval("x", assignees={"users": [r1]})))
        await waiting(busy, "x")
        query = f"ExecutionStatus = 'Running' AND Assignees = 'user:{r1}'"
        for _ in range(100):
            if (await client.count_workflows(query)).count == 1:
                break
            await asyncio.sleep(0.1)
        h = await start(
            client, w, doc(approval("y", assignees={"roles": [role], "pick": "least_loaded"}))
        )
        st = await waiting(h, "y")
        assert st.pending[0].assignees == [f"user:{r2}"]  # the role is not published
        assert await refused(h, "y", "approved", r1) == "NotAssignee"
        await decide(h, "y", "approved", r2)
        await decide(busy, "x", "approved", r1)
        await asyncio.gather(h.result(), busy.result())


async def test_decision_accepted_while_paused_downstream_waits(client: Client) -> None:
    d = doc(
        approval("p", assignees={"users": ["ann"]}),
        act("next", depends_on=["p"]),
    )
    async with approval_worker(client) as w:
        h = await start(client, w, d)
        await waiting(h, "p")
        await h.signal("pause")
        await wait_for(h, lambda s: s.state == "paused")
        st = await decide(h, "p", "approved", "ann")
        assert st.state == "succeeded"
        cur = await status(h)
        assert cur.steps["next"].state == "pending" and cur.state == "paused"
        await h.signal("resume")
        await h.result()
        assert (await status(h)).steps["next"].state == "succeeded"


async def test_nested_approvals_in_foreach_are_addressed_by_item(client: Client) -> None:
    d = doc(
        {
            "id": "fe",
            "foreach": {
                "items": "input.docs",
                "steps": [approval("sign", assignees={"users": ["ann", "bob"]})],
            },
        }
    )
    async with approval_worker(client) as w:
        h = await start(client, w, d, {"docs": ["a", "b"]})
        st = await wait_for(h, lambda s: len(s.pending) == 2)
        assert sorted(p.step for p in st.pending) == ["fe[0].sign", "fe[1].sign"]
        assert await assignees_attr(h) == ["user:ann", "user:bob"]
        await decide(h, "fe[1].sign", "rejected", "bob")
        st = await wait_for(h, lambda s: len(s.pending) == 1)
        assert st.steps["fe[1].sign"].decision == "rejected"
        await h.signal("decide", DecideInput(step="fe[0].sign", outcome="approved", actor="ann"))
        await h.result()
        st = await status(h)
        assert [x["sign"]["decision"] for x in st.steps["fe"].output] == ["approved", "rejected"]
        assert await assignees_attr(h) == []


async def test_cancel_while_waiting_closes_the_task(client: Client) -> None:
    d = doc(approval("c", assignees={"users": ["ann"]}))
    async with approval_worker(client) as w:
        h = await start(client, w, d)
        await waiting(h, "c")
        await h.cancel()
        with pytest.raises(WorkflowFailureError):
            await h.result()
        st = await status(h)
        assert st.state == "cancelled" and st.steps["c"].state == "cancelled"
        assert st.pending == []
