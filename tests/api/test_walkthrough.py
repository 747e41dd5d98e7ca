"""docs/api.md's purchase-order walk-through, end to end, with a tiny local ERP."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.api.conftest import auth, unique
from tests.helpers.http_receiver import HttpReceiver, Reply, Request

pytestmark = pytest.mark.usefixtures("worker")
TEMPLATE = Path(__file__).resolve().parents[2] / "templates" / "purchase-order.yaml"


def _erp(req: Request) -> Reply:
    """The tiny ERP: any GET is the budget check, any POST places the order it was sent."""
    if req.method == "GET":
        return Reply(body={"remaining": 100000})
    order = req.json or {}
    return Reply(body={"order_id": "ORD-1", "po": order.get("po")})


@pytest.fixture(scope="module")
def erp_url() -> Iterator[str]:
    with HttpReceiver(default=_erp) as erp:
        yield f"{erp.url}/erp"


async def test_purchase_order_walkthrough(api: httpx.AsyncClient, erp_url: str) -> None:
    # 0. an admin points the `erp` connection at the ERP (`make run` creates a demo one)
    erp = {"name": "erp", "base_url": erp_url}
    r = await api.post("/connections", json=erp, headers=auth("admin"))
    if r.status_code == 409:
        r = await api.put("/connections/erp", json=erp, headers=auth("admin"))
    assert r.status_code in (200, 201), r.text
    r = await api.post(
        "/templates",
        content=TEMPLATE.read_bytes(),
        headers=auth("dana") | {"content-type": "application/yaml"},
    )
    assert r.status_code == 201, r.text
    version = r.json()["version"]
    run_id = unique("po-2024-0042")
    po = {"amount": 2500, "requester": "ann", "po": "PO-2024-0042"}
    r = await api.post(
        "/runs",
        json={
            "template": "purchase-order",
            "version": version,
            "run_id": run_id,
            "tags": {"cost_center": "CC-100"},
            "input": po,
        },
        headers=auth("eve"),
    )
    assert r.status_code == 422 and r.json()["errors"][0]["loc"] == "input.cost_center"
    # hosts do not come from run input any more (issue: erp_url aimed at the Temporal UI)
    sneaky = po | {"cost_center": "CC-100", "erp_url": "http://127.0.0.1:8233"}
    r = await api.post(
        "/runs", json={"template": "purchase-order", "input": sneaky}, headers=auth("eve")
    )
    assert r.status_code == 422 and "erp_url" in r.json()["detail"]
    body = {
        "template": "purchase-order",
        "version": version,
        "run_id": run_id,
        "tags": {"cost_center": "CC-100"},
        "input": po | {"cost_center": "CC-100"},
    }
    r = await api.post("/runs", json=body, headers=auth("eve"))
    assert r.status_code == 201, r.text

    entry = None
    for _ in range(75):
        entry = next(
            (
                i
                for i in (await api.get("/inbox", headers=auth("bob"))).json()
                if i["run_id"] == run_id
            ),
            None,
        )
        if entry:
            break
        await asyncio.sleep(0.2)
    assert entry, "the approval never reached the manager's inbox"
    assert entry["pending"][0]["step"] == "manager_approval"

    url = f"/runs/{run_id}/steps/manager_approval/decision"
    r = await api.post(
        url, json={"outcome": "approved", "comment": "within budget"}, headers=auth("bob")
    )
    assert r.status_code == 200, r.text
    assert r.json()["decision"] == "approved"
    assert (
        await api.post(url, json={"outcome": "approved"}, headers=auth("bob"))
    ).status_code == 409

    for _ in range(75):
        doc = (await api.get(f"/runs/{run_id}", headers=auth("eve"))).json()
        if doc["state"] not in ("running", "waiting"):
            break
        await asyncio.sleep(0.2)
    assert doc["state"] == "completed", doc
    assert {k: v["state"] for k, v in doc["steps"].items()} == {
        "check_budget": "succeeded",
        "manager_approval": "succeeded",
        "place_order": "succeeded",
    }
    assert doc["output"]["order"] == {"order_id": "ORD-1", "po": "PO-2024-0042"}
    assert doc["ui_url"].endswith(f"/workflows/{run_id}")
    r = await api.get(
        "/runs",
        params={"template": "purchase-order", "tag": "cost_center:CC-100"},
        headers=auth("eve"),
    )
    assert r.status_code == 200
