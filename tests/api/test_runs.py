"""Runs on the real workflow: start, idempotent ids, status, listing, pause/resume/cancel."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

import httpx
import pytest
from temporalio.client import Client
from temporalio.worker import Worker

from tests.api.conftest import approval_template, auth, eventually, save, simple_template, unique

pytestmark = pytest.mark.usefixtures("worker")


def waiting_template(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "steps": [
            {"id": "nap", "wait": {"duration": "1h"}},
            {
                "id": "cleanup",
                "depends_on": ["nap"],
                "run_if": "all_done",
                "action": "log",
                "with": {"message": "cleanup"},
            },
        ],
    }


async def start(api: httpx.AsyncClient, user: str = "eve", **body: Any) -> httpx.Response:
    return await api.post("/runs", json=body, headers=auth(user))


async def test_start_and_complete(api: httpx.AsyncClient, worker: Worker) -> None:
    name = unique("run")
    await save(api, simple_template(name, outputs={"greeting": "hi ${{ input.who }}"}))
    r = await start(api, template=name, input={"who": "ann"}, tags={"team": "ops"})
    assert r.status_code == 201, r.text
    ref = r.json()
    assert ref["template"] == name and ref["version"] == 1
    assert ref["run_id"].startswith(f"{name}-")
    assert ref["ui_url"] == f"http://ui.test:8233/namespaces/default/workflows/{ref['run_id']}"

    async def done() -> dict[str, Any] | None:
        doc = (await api.get(f"/runs/{ref['run_id']}", headers=auth("eve"))).json()
        return doc if doc["state"] == "completed" else None

    doc = await eventually(done)
    assert doc, "run did not complete"
    assert doc["output"] == {"greeting": "hi ann"}
    assert doc["closed_at"] and doc["started_at"]
    assert doc["steps"]["hello"]["state"] == "succeeded"
    assert doc["started_by"] == "eve" and doc["tags"] == ["team:ops"]


async def test_start_errors(api: httpx.AsyncClient) -> None:
    r = await start(api, template=unique("nope"), input={})
    assert r.status_code == 404 and r.json()["error"] == "not_found"
    name = unique("schema")
    await save(api, approval_template(name))
    r = await start(api, template=name, input={"amount": "lots"})
    assert r.status_code == 422
    assert r.json()["errors"][0]["loc"] == "input.amount"
    r = await start(api, template=name, input={})
    assert r.status_code == 422 and r.json()["errors"][0]["loc"] == "input.amount"
    r = await start(api, template=name, version=5, input={"amount": 1})
    assert r.status_code == 404
    r = await start(api, template=name, input={"amount": 1}, run_id="bad id!")
    assert r.status_code == 422
    r = await start(api, template=name, input={"amount": 1}, tags={"a'b": "c"})
    assert r.status_code == 422


async def test_run_id_reuse(api: httpx.AsyncClient) -> None:
    name = unique("dup")
    await save(api, waiting_template(name))
    run_id = unique("my.run")
    first = await start(api, template=name, input={"x": 1}, run_id=run_id)
    assert first.status_code == 201
    again = await start(api, template=name, input={"x": 1}, run_id=run_id)
    assert again.status_code == 200 and again.json() == first.json()
    other = await start(api, template=name, input={"x": 2}, run_id=run_id)
    assert other.status_code == 409 and other.json()["error"] == "conflict"
    assert (await api.post(f"/runs/{run_id}/cancel", headers=auth("eve"))).status_code == 202


async def test_get_unknown_run(api: httpx.AsyncClient) -> None:
    r = await api.get(f"/runs/{unique('ghost')}", headers=auth("eve"))
    assert r.status_code == 404
    for action in ("pause", "resume", "cancel"):
        r = await api.post(f"/runs/{unique('ghost')}/{action}", headers=auth("olga"))
        assert r.status_code == 404


async def test_pause_resume_cancel(api: httpx.AsyncClient) -> None:
    name = unique("pause")
    await save(api, waiting_template(name))
    run_id = (await start(api, "eve", template=name, input={})).json()["run_id"]
    # only the starter, an operator or an admin; the template's owner (dana) reads the run
    # but may not pause it (403); bob may not even read it (404, as for a missing run)
    assert (await api.post(f"/runs/{run_id}/pause", headers=auth("dana"))).status_code == 403
    assert (await api.post(f"/runs/{run_id}/pause", headers=auth("bob"))).status_code == 404
    r = await api.post(f"/runs/{run_id}/pause", headers=auth("eve"))
    assert r.status_code == 202 and r.json() == {
        "run_id": run_id,
        "action": "pause",
        "accepted": True,
    }

    async def state(expected: str) -> bool:
        return (await api.get(f"/runs/{run_id}", headers=auth("eve"))).json()["state"] == expected

    assert await eventually(lambda: state("paused"))
    assert (await api.post(f"/runs/{run_id}/resume", headers=auth("olga"))).status_code == 202
    assert await eventually(lambda: state("running"))
    assert (await api.post(f"/runs/{run_id}/cancel", headers=auth("admin"))).status_code == 202
    assert await eventually(lambda: state("cancelled"))
    doc = (await api.get(f"/runs/{run_id}", headers=auth("eve"))).json()
    assert doc["closed_at"] and doc["steps"]["cleanup"]["state"] == "succeeded"
    # a second cancel is a no-op; pausing a closed run is a conflict
    assert (await api.post(f"/runs/{run_id}/cancel", headers=auth("eve"))).status_code == 202
    assert (await api.post(f"/runs/{run_id}/pause", headers=auth("eve"))).status_code == 409
    assert (await api.post(f"/runs/{run_id}/resume", headers=auth("eve"))).status_code == 409


async def test_failed_run_reports_error(api: httpx.AsyncClient) -> None:
    name = unique("fails")
    await save(api, {"name": name, "steps": [{"id": "boom", "fail": {"message": "no budget"}}]})
    run_id = (await start(api, template=name, input={})).json()["run_id"]

    async def failed() -> dict[str, Any] | None:
        doc = (await api.get(f"/runs/{run_id}", headers=auth("eve"))).json()
        return doc if doc["state"] == "failed" else None

    doc = await eventually(failed)
    assert doc and "no budget" in doc["error"]
    assert (await api.post(f"/runs/{run_id}/cancel", headers=auth("eve"))).status_code == 409


async def test_list_filters_and_pages(api: httpx.AsyncClient) -> None:
    name = unique("list")
    await save(api, waiting_template(name))
    ids = []
    for i in range(3):
        r = await start(
            api, "alice" if i == 0 else "bob", template=name, input={"i": i}, tags={"n": str(i)}
        )
        ids.append(r.json()["run_id"])

    async def listed(**params: Any) -> list[str]:
        # dana saved the template: as its owner she lists every run of it
        r = await api.get("/runs", params={"template": name, **params}, headers=auth("dana"))
        assert r.status_code == 200, r.text
        return [x["run_id"] for x in r.json()["runs"]]

    assert await eventually(lambda: _len_is(listed(), 3))
    assert await listed() == ids[::-1]  # newest first
    assert await listed(started_by="alice") == [ids[0]]
    assert await listed(tag="n:2") == [ids[2]]
    assert await listed(state="running") == ids[::-1]
    assert await listed(state="completed") == []

    page1 = (
        await api.get("/runs", params={"template": name, "page_size": 2}, headers=auth("dana"))
    ).json()
    assert len(page1["runs"]) == 2 and page1["next_page_token"]
    item = page1["runs"][0]
    assert item["template"] == name and item["version"] == 1 and item["state"] == "running"
    assert item["ui_url"].endswith(item["run_id"])
    page2 = (
        await api.get(
            "/runs",
            params={"template": name, "page_size": 2, "next_page_token": page1["next_page_token"]},
            headers=auth("dana"),
        )
    ).json()
    assert [x["run_id"] for x in page1["runs"] + page2["runs"]] == ids[::-1]
    for run_id in ids:
        await api.post(f"/runs/{run_id}/cancel", headers=auth("admin"))


async def _len_is(result: Awaitable[list[str]], n: int) -> bool:
    return len(await result) == n


@pytest.mark.parametrize(
    "params",
    [
        {"state": "sleeping"},
        {"template": "a'b"},
        {"tag": "nocolon"},
        {"started_by": 'x"y'},
        {"next_page_token": "!!!"},
        {"page_size": 0},
        {"assignee": "a\\b"},
    ],
)
async def test_list_rejects_bad_filters(api: httpx.AsyncClient, params: dict[str, Any]) -> None:
    r = await api.get("/runs", params=params, headers=auth("eve"))
    assert r.status_code == 422, r.text
    assert r.json()["error"] in ("invalid", "invalid_request")


async def test_terminated_run(api: httpx.AsyncClient, client: Client) -> None:
    name = unique("term")
    await save(api, waiting_template(name))
    run_id = (await start(api, template=name, input={})).json()["run_id"]
    await client.get_workflow_handle(run_id).terminate("operator says stop")
    doc = (await api.get(f"/runs/{run_id}", headers=auth("eve"))).json()
    assert doc["state"] == "terminated" and doc["closed_at"]
    assert (await api.post(f"/runs/{run_id}/pause", headers=auth("eve"))).status_code == 409
    assert (await api.post(f"/runs/{run_id}/cancel", headers=auth("eve"))).status_code == 409

    async def listed() -> bool:
        r = await api.get(
            "/runs", params={"template": name, "state": "terminated"}, headers=auth("eve")
        )
        return [x["run_id"] for x in r.json()["runs"]] == [run_id]

    assert await eventually(listed)


async def test_subflows_are_pinned_at_start(api: httpx.AsyncClient, client: Client) -> None:
    from api.services.starting import existing_input

    child, parent = unique("child"), unique("parent")
    await save(api, simple_template(child, outputs={"said": "hi ${{ input.who }}"}))
    await save(api, simple_template(child, outputs={"said": "v2 ${{ input.who }}"}))
    await save(
        api,
        {
            "name": parent,
            "steps": [{"id": "sub", "subflow": {"template": child, "input": {"who": "kid"}}}],
            "outputs": {"child": "${{ steps.sub.output }}"},
        },
    )
    run_id = (await start(api, template=parent, input={})).json()["run_id"]
    await save(api, simple_template(child, outputs={"said": "v3 ${{ input.who }}"}))  # after start
    run = await existing_input(client, run_id)
    assert run is not None
    assert run.subflow_versions == {child: 2} and set(run.subflows) == {f"{child}@2"}

    async def done() -> dict[str, Any] | None:
        doc = (await api.get(f"/runs/{run_id}", headers=auth("eve"))).json()
        return doc if doc["state"] in ("completed", "failed") else None

    doc = await eventually(done)
    assert doc and doc["state"] == "completed", doc
    assert doc["output"] == {"child": {"said": "v2 kid"}}
