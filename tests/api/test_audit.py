"""`GET /runs/{run_id}/audit`: every event of a run with its actor, in time order (JSON, CSV)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.conftest import auth, eventually, unique
from tests.helpers.http_receiver import HttpReceiver, Reply, Request

pytestmark = pytest.mark.usefixtures("worker")
TEMPLATE = Path(__file__).resolve().parents[2] / "templates" / "purchase-order.yaml"


def _erp(req: Request) -> Reply:
    if req.method == "GET":
        return Reply(body={"remaining": 100000})
    return Reply(body={"order_id": "ORD-7", "po": (req.json or {}).get("po")})


@pytest.fixture(scope="module")
def erp_url() -> Iterator[str]:
    with HttpReceiver(default=_erp) as erp:
        yield f"{erp.url}/erp"


async def _point_erp_at(api: httpx.AsyncClient, erp_url: str) -> None:
    """The built-in purchase order calls connection `erp`: an admin points it at our ERP."""
    body = {"name": "erp", "base_url": erp_url}
    r = await api.post("/connections", json=body, headers=auth("admin"))
    if r.status_code == 409:
        r = await api.put("/connections/erp", json=body, headers=auth("admin"))
    assert r.status_code in (200, 201), r.text


async def _po_run(api: httpx.AsyncClient, erp_url: str, starter: str) -> str:
    await _point_erp_at(api, erp_url)
    r = await api.post(
        "/templates",
        content=TEMPLATE.read_bytes(),
        headers=auth("dana") | {"content-type": "application/yaml"},
    )
    assert r.status_code == 201, r.text
    run_id = unique("po-audit")
    body = {
        "template": "purchase-order",
        "version": r.json()["version"],
        "run_id": run_id,
        "input": {
            "amount": 2500,
            "requester": starter,
            "po": "PO-77",
            "cost_center": "CC-7",
        },
    }
    r = await api.post("/runs", json=body, headers=auth(starter))
    assert r.status_code == 201, r.text
    return run_id


async def _state(api: httpx.AsyncClient, run_id: str) -> dict[str, Any]:
    r = await api.get(f"/runs/{run_id}", headers=auth("eve"))
    assert r.status_code == 200, r.text
    doc: dict[str, Any] = r.json()
    return doc


async def _waiting(api: httpx.AsyncClient, run_id: str) -> None:
    async def check() -> bool:
        return bool((await _state(api, run_id))["pending"])

    assert await eventually(check, 20)


async def _closed(api: httpx.AsyncClient, run_id: str, state: str) -> None:
    async def check() -> bool:
        return (await _state(api, run_id))["state"] == state

    assert await eventually(check, 20)


def _kinds(events: list[dict[str, Any]]) -> list[tuple[str, str | None, str | None]]:
    return [(e["kind"], e.get("step"), e.get("actor")) for e in events]


async def test_audit_of_an_approved_purchase_order(api: httpx.AsyncClient, erp_url: str) -> None:
    run_id = await _po_run(api, erp_url, "eve")
    await _waiting(api, run_id)
    r = await api.get(f"/runs/{run_id}/audit", headers=auth("bob"))  # an open run too
    assert r.status_code == 200, r.text
    assert [e["kind"] for e in r.json()["events"]][-2:] == ["step_started", "approval_opened"]
    for action in ("pause", "resume"):
        r = await api.post(f"/runs/{run_id}/{action}", headers=auth("olga"))
        assert r.status_code == 202, r.text
    r = await api.post(
        f"/runs/{run_id}/steps/manager_approval/decision",
        json={"outcome": "approved", "comment": "fine for Q3"},
        headers=auth("alice"),
    )
    assert r.status_code == 200, r.text
    await _closed(api, run_id, "completed")

    r = await api.get(f"/runs/{run_id}/audit", headers=auth("bob"))
    assert r.status_code == 200, r.text
    trail = r.json()
    assert trail["run_id"] == run_id
    events = trail["events"]
    assert [e["at"] for e in events] == sorted(e["at"] for e in events)
    assert _kinds(events) == [
        ("run_started", None, "eve"),
        ("step_started", "check_budget", None),
        ("step_succeeded", "check_budget", None),
        ("step_started", "manager_approval", None),
        ("approval_opened", "manager_approval", None),
        ("paused", None, "olga"),
        ("resumed", None, "olga"),
        ("decided", "manager_approval", "alice"),
        ("step_succeeded", "manager_approval", None),
        ("step_started", "place_order", None),
        ("step_succeeded", "place_order", None),
        ("run_closed", None, None),
    ]
    by_kind = {e["kind"]: e for e in events}
    assert by_kind["run_started"]["detail"]["template"] == "purchase-order"
    assert by_kind["approval_opened"]["detail"]["assignees"] == [
        "user:alice",
        "user:bob",
        "role:manager",
    ]
    assert by_kind["decided"]["detail"] == {
        "outcome": "approved",
        "comment": "fine for Q3",
        "as_admin": False,
    }
    assert by_kind["step_succeeded"]["detail"] == {"kind": "action", "attempts": 1}
    assert by_kind["run_closed"]["detail"] == {"state": "completed"}

    r = await api.get(f"/runs/{run_id}/audit", params={"format": "csv"}, headers=auth("bob"))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert [(row["kind"], row["step"] or None, row["actor"] or None) for row in rows] == _kinds(
        events
    )
    assert (
        rows[7]["detail"] == '{"as_admin": false, "comment": "fine for Q3", "outcome": "approved"}'
    )


async def test_audit_names_who_cancelled_and_admin_decisions(
    api: httpx.AsyncClient, erp_url: str
) -> None:
    decided = await _po_run(api, erp_url, "eve")
    cancelled = await _po_run(api, erp_url, "eve")
    await _waiting(api, decided)
    await _waiting(api, cancelled)
    r = await api.post(
        f"/runs/{decided}/steps/manager_approval/decision",
        json={"outcome": "rejected", "comment": "over budget"},
        headers=auth("admin"),
    )
    assert r.status_code == 200, r.text
    r = await api.post(f"/runs/{cancelled}/cancel", headers=auth("eve"))
    assert r.status_code == 202, r.text
    await _closed(api, decided, "completed")
    await _closed(api, cancelled, "cancelled")

    events = (await api.get(f"/runs/{decided}/audit", headers=auth("eve"))).json()["events"]
    decision = next(e for e in events if e["kind"] == "decided")
    assert decision["actor"] == "admin"
    assert decision["detail"] == {"outcome": "rejected", "comment": "over budget", "as_admin": True}
    skipped = next(e for e in events if e["step"] == "place_order")
    assert skipped["kind"] == "step_skipped"

    events = (await api.get(f"/runs/{cancelled}/audit", headers=auth("eve"))).json()["events"]
    assert ("cancelled", None, "eve") in _kinds(events)
    assert ("step_cancelled", "manager_approval", None) in _kinds(events)
    assert events[-1]["kind"] == "run_closed" and events[-1]["detail"] == {"state": "cancelled"}


async def test_audit_errors(api: httpx.AsyncClient) -> None:
    r = await api.get("/runs/no-such-run-xyz/audit", headers=auth("eve"))
    assert r.status_code == 404 and r.json()["error"] == "not_found"
    assert (await api.get("/runs/x/audit")).status_code == 401
    r = await api.get("/runs/x/audit", params={"format": "xml"}, headers=auth("eve"))
    assert r.status_code == 422
