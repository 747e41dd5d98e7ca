"""Approvals for people through the API (SPEC §11): delegation, separation of duties,
bulk decisions and the reassignment rules — against real runs, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from temporalio.client import Client

from tests.api.conftest import auth, eventually, save, unique
from workflows.engine.io import DecideInput, RunStatus

pytestmark = pytest.mark.usefixtures("worker")


def po_template(name: str, **approval: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {"assignees": {"users": ["mike"]}, **approval}
    return {
        "name": name,
        "steps": [
            {"id": "approve", "approval": spec},
            {"id": "done", "depends_on": ["approve"], "action": "log", "with": {"message": "ok"}},
        ],
        "outputs": {"decision": "${{ steps.approve.decision }}"},
    }


async def start(api: httpx.AsyncClient, doc: dict[str, Any], starter: str = "eve") -> str:
    await save(api, doc)
    r = await api.post("/runs", json={"template": doc["name"], "input": {}}, headers=auth(starter))
    assert r.status_code == 201, r.text
    run_id: str = r.json()["run_id"]

    async def waiting() -> dict[str, Any] | None:
        doc = (await api.get(f"/runs/{run_id}", headers=auth(starter))).json()
        return doc if doc["state"] == "waiting" and doc["pending"] else None

    assert await eventually(waiting), f"{run_id} never waited"
    return run_id


async def run_doc(api: httpx.AsyncClient, run_id: str) -> dict[str, Any]:
    r = await api.get(f"/runs/{run_id}", headers=auth("admin"))
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def decide(
    api: httpx.AsyncClient, run_id: str, user: str, outcome: str = "approved", **body: Any
) -> httpx.Response:
    return await api.post(
        f"/runs/{run_id}/steps/approve/decision",
        json={"outcome": outcome, **body},
        headers=auth(user),
    )


@pytest.fixture
async def no_delegations(api: httpx.AsyncClient) -> Any:
    """Every test starts and ends with nobody out of office."""
    for u in ("mike", "mia", "sam", "alice"):
        await api.delete("/me/delegation", headers=auth(u))
    yield
    for u in ("mike", "mia", "sam", "alice"):
        await api.delete("/me/delegation", headers=auth(u))


# -- delegation ------------------------------------------------------------------------


async def test_delegation_endpoints(api: httpx.AsyncClient, no_delegations: Any) -> None:
    r = await api.get("/me/delegation", headers=auth("mike"))
    assert r.status_code == 200 and r.json() == {
        "user": "mike", "to": None, "until": None, "active": False, "source": None
    }
    tomorrow = datetime.now(UTC) + timedelta(days=1)
    r = await api.put(
        "/me/delegation", json={"to": "mia", "until": tomorrow.isoformat()}, headers=auth("mike")
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["to"] == "mia" and body["active"] is True and body["source"] == "self"
    got = (await api.get("/me/delegation", headers=auth("mike"))).json()
    assert got["to"] == "mia" and got["active"] is True
    assert abs(datetime.fromisoformat(got["until"]) - tomorrow) < timedelta(seconds=1)
    for bad, where in (
        ({"to": "mike"}, "yourself"),
        ({"to": "nobody-here"}, "not a user"),
        ({"to": "mia", "until": "2001-01-01T00:00:00Z"}, "future"),
        ({"to": "mia", "extra": 1}, "extra"),
    ):
        r = await api.put("/me/delegation", json=bad, headers=auth("mike"))
        assert r.status_code == 422, (bad, r.text)
        assert where in r.text, r.text
    assert (await api.put("/me/delegation", json={"to": "mia"})).status_code == 401
    r = await api.delete("/me/delegation", headers=auth("mike"))
    assert r.status_code == 204
    assert (await api.get("/me/delegation", headers=auth("mike"))).json()["to"] is None


async def test_delegate_decides_on_behalf(api: httpx.AsyncClient, no_delegations: Any) -> None:
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    r = await api.put("/me/delegation", json={"to": "mia", "until": tomorrow}, headers=auth("mike"))
    assert r.status_code == 200, r.text
    run_id = await start(api, po_template(unique("deleg")))
    doc = await run_doc(api, run_id)
    [pending] = doc["pending"]
    assert pending["assignees"] == ["user:mia"]
    assert pending["delegations"] == {"mike": "mia"}
    # mia's inbox has it, marked; mike's does not
    async def inbox(user: str) -> list[dict[str, Any]]:
        items = (await api.get("/inbox", headers=auth(user))).json()
        return [i for i in items if i["run_id"] == run_id]

    items = await eventually(lambda: inbox("mia"))
    assert items and items[0]["pending"][0]["delegations"] == {"mike": "mia"}
    assert await inbox("mike") == []
    r = await decide(api, run_id, "mike")
    assert r.status_code == 403  # away: his seat is mia's until he is back
    r = await decide(api, run_id, "mia", comment="for mike")
    assert r.status_code == 200, r.text
    [vote] = r.json()["output"]["decisions"]
    assert vote["actor"] == "mia" and vote["on_behalf_of"] == "mike"
    assert r.json()["output"]["delegations"] == {"mike": "mia"}


async def test_delegation_cycle_stops_at_first_repeat(
    api: httpx.AsyncClient, no_delegations: Any
) -> None:
    assert (await api.put("/me/delegation", json={"to": "mia"}, headers=auth("mike"))).is_success
    assert (await api.put("/me/delegation", json={"to": "mike"}, headers=auth("mia"))).is_success
    run_id = await start(api, po_template(unique("cycle")))
    [pending] = (await run_doc(api, run_id))["pending"]
    # mike -> mia -> mike: the walk stops at mike, the first user seen twice
    assert pending["assignees"] == ["user:mike"] and pending["delegations"] == {}
    r = await decide(api, run_id, "mike")
    assert r.status_code == 200, r.text
    assert r.json()["output"]["decisions"][0].get("on_behalf_of") is None


async def test_chain_and_expired_delegation(api: httpx.AsyncClient, no_delegations: Any) -> None:
    # mike -> mia -> sam: the end of the chain decides, on behalf of mike
    assert (await api.put("/me/delegation", json={"to": "mia"}, headers=auth("mike"))).is_success
    assert (await api.put("/me/delegation", json={"to": "sam"}, headers=auth("mia"))).is_success
    run_id = await start(api, po_template(unique("chain")))
    [pending] = (await run_doc(api, run_id))["pending"]
    assert pending["assignees"] == ["user:sam"] and pending["delegations"] == {"mike": "sam"}
    r = await decide(api, run_id, "sam")
    assert r.status_code == 200 and r.json()["output"]["decisions"][0]["on_behalf_of"] == "mike"


# -- separation of duties --------------------------------------------------------------


async def test_self_approval_false(api: httpx.AsyncClient, client: Client) -> None:
    doc = po_template(unique("sod"), self_approval=False)
    doc["steps"][0]["approval"]["assignees"] = {"users": ["mike", "mia"]}
    run_id = await start(api, doc, starter="mike")
    [pending] = (await run_doc(api, run_id))["pending"]
    assert pending["assignees"] == ["user:mia"]  # the starter holds no seat
    r = await decide(api, run_id, "mike")
    assert r.status_code == 403, r.text
    assert "self-approval" in r.json()["detail"]
    # the raw signal is ignored and recorded
    h = client.get_workflow_handle(run_id)
    await h.signal("decide", DecideInput(step="approve", outcome="approved", actor="mike"))

    async def recorded() -> list[dict[str, Any]]:
        st = await h.query("status", result_type=RunStatus)
        return list((st.steps["approve"].output or {}).get("rejected_decisions") or [])

    [ignored] = await eventually(recorded)
    assert ignored["actor"] == "mike" and ignored["reason"] == "SelfApprovalNotAllowed"
    doc_now = await run_doc(api, run_id)
    assert doc_now["state"] == "waiting" and doc_now["steps"]["approve"]["output"]["decisions"] == []
    r = await decide(api, run_id, "mia")
    assert r.status_code == 200 and r.json()["decision"] == "approved"


# -- bulk ------------------------------------------------------------------------------


async def test_bulk_decisions(api: httpx.AsyncClient) -> None:
    closed = await start(api, po_template(unique("bulk-closed")))
    assert (await decide(api, closed, "mike")).status_code == 200

    async def is_closed() -> bool:
        return (await run_doc(api, closed))["state"] == "completed"

    assert await eventually(is_closed)
    a = await start(api, po_template(unique("bulk-a")))
    b = await start(api, po_template(unique("bulk-b")))
    other = await start(api, po_template(unique("bulk-other"), assignees={"users": ["alice"]}))
    ghost = unique("ghost")
    items = [
        {"run_id": a, "step": "approve", "outcome": "approved", "comment": "bulk"},
        {"run_id": closed, "step": "approve", "outcome": "approved"},
        {"run_id": other, "step": "approve", "outcome": "approved"},
        {"run_id": ghost, "step": "approve", "outcome": "approved"},
        {"run_id": b, "step": "approve", "outcome": "rejected"},
    ]
    r = await api.post("/decisions", json={"decisions": items}, headers=auth("mike"))
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [(x["run_id"], x["status"]) for x in results] == [
        (a, 200), (closed, 409), (other, 403), (ghost, 404), (b, 200)
    ]
    assert results[0]["decision"] == "approved" and results[4]["decision"] == "rejected"
    assert results[1]["error"] == "conflict" and results[1]["detail"]
    assert results[2]["error"] == "forbidden" and "not an assignee" in results[2]["detail"]
    assert results[3]["error"] == "not_found"
    # the refused items changed nothing
    assert (await run_doc(api, other))["state"] == "waiting"
    # more than 100, or none: the request itself is invalid
    many = {"decisions": [items[0]] * 101}
    assert (await api.post("/decisions", json=many, headers=auth("mike"))).status_code == 422
    empty = {"decisions": []}
    assert (await api.post("/decisions", json=empty, headers=auth("mike"))).status_code == 422
    assert (await api.post("/decisions", json={"decisions": items})).status_code == 401


# -- reassignment: the four-eyes bypass of review ---------------------------------------


async def test_reassign_to_self_alone_is_refused(api: httpx.AsyncClient) -> None:
    """mike reassigns a quorum-`all` step to himself alone, then approves: refused."""
    doc = po_template(unique("4eyes"), quorum="all")
    doc["steps"][0]["approval"]["assignees"] = {"users": ["mike", "alice"]}
    run_id = await start(api, doc)
    url = f"/runs/{run_id}/steps/approve/reassign"
    r = await api.post(url, json={"users": ["mike"]}, headers=auth("mike"))
    assert r.status_code == 409 and "already an assignee" in r.json()["detail"], r.text
    r = await api.post(url, json={"users": ["sam", "mia"]}, headers=auth("mike"))
    assert r.status_code == 403, r.text
    r = await api.post(url, json={"roles": ["buyer"]}, headers=auth("mike"))
    assert r.status_code == 403, r.text
    # not an assignee, nor anyone else who may read the run: the 404 of a missing run
    r = await api.post(url, json={"users": ["sam"]}, headers=auth("sam"))
    assert r.status_code == 404, r.text
    assert (await decide(api, run_id, "mike")).json()["state"] == "waiting"  # alice still needed
    out = (await run_doc(api, run_id))["steps"]["approve"]["output"]
    assert [v["actor"] for v in out["decisions"]] == ["mike"]
    assert "reassignments" not in out
    # his own seat, one-for-one, to someone new: allowed; the count starts again
    r = await api.post(url, json={"users": ["sam"]}, headers=auth("mike"))
    assert r.status_code == 200, r.text
    [pending] = (await run_doc(api, run_id))["pending"]
    assert sorted(pending["assignees"]) == ["user:alice", "user:sam"]
    assert r.json()["output"]["reassignments"][0]["reason"] == "handover"
    assert (await decide(api, run_id, "mike")).status_code == 403
    assert (await decide(api, run_id, "sam")).json()["state"] == "waiting"
    assert (await decide(api, run_id, "alice")).json()["decision"] == "approved"


async def test_reassign_to_starter_is_refused(api: httpx.AsyncClient) -> None:
    """mike hands the step to the run's starter, who would approve their own request."""
    doc = po_template(unique("4eyes-starter"), self_approval=False)
    run_id = await start(api, doc, starter="eve")
    url = f"/runs/{run_id}/steps/approve/reassign"
    r = await api.post(url, json={"users": ["eve"]}, headers=auth("mike"))
    assert r.status_code == 403 and "self-approval" in r.json()["detail"], r.text
    assert (await decide(api, run_id, "eve")).status_code == 403
    st = (await run_doc(api, run_id))["steps"]["approve"]
    assert st["state"] == "waiting" and st["output"]["decisions"] == []
    assert "reassignments" not in st["output"]
    # operators may still reassign widely (the starter is simply never a decider)
    r = await api.post(url, json={"roles": ["buyer"]}, headers=auth("olga"))
    assert r.status_code == 200, r.text
    [pending] = (await run_doc(api, run_id))["pending"]
    assert sorted(pending["assignees"]) == ["role:buyer", "user:mia", "user:mike"]
