"""Issue 20: a long loop must not push the status document past the gRPC message limit
(and foreach `tolerated_failures` is checked at save time).

Before, every iteration's nested statuses stayed in the document: after a 30,000-
iteration loop `GET /runs/{id}` showed no steps and the open approval left /inbox.
Finished iterations are now summarised (workflows.engine.bodies)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from temporalio.client import Client

from tests.api.conftest import auth, eventually, save, unique
from workflows.engine.bodies import KEEP
from workflows.engine.workflow import TemplateWorkflow

pytestmark = pytest.mark.usefixtures("worker")

N = 5_000
#: the status document's bound, whatever N is (a few hundred bytes per listed step)
MAX_BYTES = 16_000


def loop_and_approval(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "steps": [
            {
                "id": "lp",
                "loop": {
                    "until": f"iteration + 1 >= {N}",
                    "max_iterations": N,
                    "steps": [{"id": "bump", "set": {"count": "${{ iteration + 1 }}"}}],
                },
            },
            {"id": "approve", "depends_on": ["lp"], "approval": {"assignees": {"roles": ["manager"]}}},
        ],
        "outputs": {"count": "${{ vars.count }}", "decision": "${{ steps.approve.decision }}"},
    }


async def test_long_loop_keeps_status_small_and_approval_in_inbox(
    api: httpx.AsyncClient, client: Client
) -> None:
    doc = loop_and_approval(unique("long-loop"))
    await save(api, doc)
    r = await api.post("/runs", json={"template": doc["name"], "input": {}}, headers=auth("eve"))
    assert r.status_code == 201, r.text
    run_id = r.json()["run_id"]

    async def waiting() -> dict[str, Any] | None:
        got = (await api.get(f"/runs/{run_id}", headers=auth("eve"))).json()
        return got if got["state"] == "waiting" and got["pending"] else None

    got = await eventually(waiting, timeout=60)
    assert got, "the run never waited on its approval"
    assert got["steps"]["lp"]["state"] == "succeeded"
    assert got["steps"]["lp"]["body"]["counts"] == {"succeeded": N}
    assert got["steps"]["lp"]["body"]["pruned"] == N - KEEP
    assert f"lp[{N - 1}].bump" in got["steps"] and "lp[0].bump" not in got["steps"]

    status = await client.get_workflow_handle(run_id).query(TemplateWorkflow.status)
    size = len(status.model_dump_json())
    assert size < MAX_BYTES, size

    async def listed() -> list[dict[str, Any]]:
        r = await api.get("/inbox", headers=auth("alice"))
        assert r.status_code == 200, r.text
        return [i for i in r.json() if i["run_id"] == run_id]

    items = await eventually(listed)
    assert items and items[0]["pending"][0]["step"] == "approve"
    r = await api.post(
        f"/runs/{run_id}/steps/approve/decision", json={"outcome": "approved"}, headers=auth("alice")
    )
    assert r.status_code == 200, r.text

    async def completed() -> dict[str, Any] | None:
        got = (await api.get(f"/runs/{run_id}", headers=auth("eve"))).json()
        return got if got["state"] == "completed" else None

    got = await eventually(completed, timeout=30)
    assert got and got["output"] == {"count": N, "decision": "approved"}


@pytest.mark.parametrize("bad", [-1, "150%", "abc"])
async def test_bad_tolerated_failures_is_422_naming_the_field(
    api: httpx.AsyncClient, bad: Any
) -> None:
    doc = {
        "name": unique("tolerance"),
        "steps": [
            {
                "id": "fe",
                "foreach": {
                    "items": "[1, 2, 3]",
                    "tolerated_failures": bad,
                    "steps": [{"id": "s", "set": {"a": "${{ item }}"}}],
                },
            }
        ],
    }
    r = await api.post("/templates", json=doc, headers=auth("dana"))
    assert r.status_code == 422, r.text
    assert [e["loc"] for e in r.json()["errors"]] == ["steps[0].foreach.tolerated_failures"]
    doc["steps"][0]["foreach"]["tolerated_failures"] = "50%"
    await save(api, doc)
