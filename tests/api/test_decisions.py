"""Decisions, reassignment and the inbox against the real approval steps."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.api.conftest import approval_template, auth, eventually, save, unique

pytestmark = pytest.mark.usefixtures("worker")


async def start_approval(api: httpx.AsyncClient, doc: dict[str, Any] | None = None) -> str:
    doc = doc or approval_template(unique("po"))
    name = doc["name"]
    await save(api, doc)
    r = await api.post(
        "/runs", json={"template": name, "input": {"amount": 5000}}, headers=auth("eve")
    )
    assert r.status_code == 201, r.text
    run_id: str = r.json()["run_id"]

    async def waiting() -> bool:
        doc = (await api.get(f"/runs/{run_id}", headers=auth("eve"))).json()
        return doc["state"] == "waiting" and bool(doc["pending"])

    assert await eventually(waiting)
    return run_id


async def in_inbox(api: httpx.AsyncClient, user: str, run_id: str) -> list[dict[str, Any]]:
    r = await api.get("/inbox", headers=auth(user))
    assert r.status_code == 200, r.text
    return [i for i in r.json() if i["run_id"] == run_id]


async def test_inbox_decide_complete(api: httpx.AsyncClient) -> None:
    run_id = await start_approval(api)
    items = await eventually(lambda: in_inbox(api, "alice", run_id))
    assert items, "run never showed up in alice's inbox"
    [item] = items
    assert item["pending"][0]["step"] == "approve"
    assert "role:manager" in item["pending"][0]["assignees"]
    assert item["ui_url"].endswith(run_id)
    assert await in_inbox(api, "eve", run_id) == []
    for params in ({"assignee": "alice"}, {"assignee": "role:manager", "state": "waiting"}):
        r = await api.get("/runs", params=params, headers=auth("eve"))
        assert run_id in [x["run_id"] for x in r.json()["runs"]], params
    r = await api.get("/runs", params={"assignee": "eve"}, headers=auth("eve"))
    assert run_id not in [x["run_id"] for x in r.json()["runs"]]

    url = f"/runs/{run_id}/steps/approve/decision"
    r = await api.post(url, json={"outcome": "approved", "comment": "ok"}, headers=auth("eve"))
    assert r.status_code == 403 and r.json()["error"] == "forbidden"
    r = await api.post(url, json={"outcome": "maybe"}, headers=auth("alice"))
    assert r.status_code == 409
    r = await api.post(url, json={"outcome": "approved", "comment": "ok"}, headers=auth("alice"))
    assert r.status_code == 200, r.text
    step = r.json()
    assert step["decision"] == "approved" and step["state"] == "succeeded"
    assert step["output"]["decisions"][0]["actor"] == "alice"
    r = await api.post(url, json={"outcome": "approved"}, headers=auth("bob"))
    assert r.status_code == 409

    async def completed() -> dict[str, Any] | None:
        doc = (await api.get(f"/runs/{run_id}", headers=auth("eve"))).json()
        return doc if doc["state"] == "completed" else None

    doc = await eventually(completed)
    assert doc and doc["output"] == {"decision": "approved"}
    r = await api.post(url, json={"outcome": "approved"}, headers=auth("bob"))
    assert r.status_code == 409  # run closed
    r = await api.post(
        f"/runs/{unique('ghost')}/steps/approve/decision",
        json={"outcome": "x"},
        headers=auth("bob"),
    )
    assert r.status_code == 404


async def test_admin_decides_for_anyone(api: httpx.AsyncClient) -> None:
    run_id = await start_approval(api)
    r = await api.post(
        f"/runs/{run_id}/steps/approve/decision",
        json={"outcome": "rejected"},
        headers=auth("admin"),
    )
    assert r.status_code == 200, r.text
    [vote] = r.json()["output"]["decisions"]
    assert vote["actor"] == "admin" and vote["outcome"] == "rejected"


async def test_form_and_reassign(api: httpx.AsyncClient) -> None:
    name = unique("form")
    doc = approval_template(name)
    doc["steps"][0]["approval"]["form"] = {
        "type": "object",
        "required": ["reason"],
        "properties": {"reason": {"type": "string"}},
    }
    run_id = await start_approval(api, doc)
    base = f"/runs/{run_id}/steps/approve"
    r = await api.post(
        f"{base}/decision", json={"outcome": "approved", "data": {}}, headers=auth("alice")
    )
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["error"] == "invalid" and "form" in body["detail"]
    assert body["errors"] == [{"loc": "data.reason", "msg": "'reason' is a required property"}]
    r = await api.post(
        f"{base}/decision",
        json={"outcome": "approved", "data": {"reason": 5}},
        headers=auth("alice"),
    )
    assert r.status_code == 422, r.text
    assert r.json()["errors"] == [{"loc": "data.reason", "msg": "5 is not of type 'string'"}]
    # delegation: only operators/admins or a current assignee
    r = await api.post(f"{base}/reassign", json={"users": ["eve"]}, headers=auth("eve"))
    assert r.status_code == 403
    assert (await api.post(f"{base}/reassign", json={}, headers=auth("olga"))).status_code == 422
    r = await api.post(f"{base}/reassign", json={"users": ["eve"]}, headers=auth("alice"))
    assert r.status_code == 200, r.text
    r = await api.post(f"{base}/decision", json={"outcome": "approved"}, headers=auth("alice"))
    assert r.status_code == 403
    r = await api.post(
        f"{base}/decision",
        json={"outcome": "approved", "data": {"reason": "fine"}},
        headers=auth("eve"),
    )
    assert r.status_code == 200, r.text
    r = await api.post(f"{base}/reassign", json={"users": ["bob"]}, headers=auth("olga"))
    assert r.status_code == 409


async def test_second_vote_is_409(api: httpx.AsyncClient) -> None:
    doc = approval_template(unique("quorum"))
    doc["steps"][0]["approval"]["quorum"] = 2
    run_id = await start_approval(api, doc)
    url = f"/runs/{run_id}/steps/approve/decision"
    r = await api.post(url, json={"outcome": "approved"}, headers=auth("alice"))
    assert r.status_code == 200 and r.json()["state"] == "waiting"
    r = await api.post(url, json={"outcome": "approved"}, headers=auth("alice"))
    assert r.status_code == 409 and r.json()["error"] == "conflict"
    r = await api.post(url, json={"outcome": "approved"}, headers=auth("bob"))
    assert r.status_code == 200 and r.json()["decision"] == "approved"
