"""Schedules (Temporal Schedules) and webhook triggers (rules, signed deliveries, dedupe)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from datetime import timedelta
from typing import Any

import httpx
import pytest
from temporalio.client import Client, ScheduleActionStartWorkflow, ScheduleOverlapPolicy

from api.services import triggers
from tests.api.conftest import (
    WEBHOOK_SECRET,
    approval_template,
    auth,
    save,
    simple_template,
    unique,
)

pytestmark = pytest.mark.usefixtures("worker")


async def test_schedule_lifecycle(api: httpx.AsyncClient, client: Client) -> None:
    name = unique("sched")
    await save(api, simple_template(name))
    sid = unique("nightly")
    body: dict[str, Any] = {
        "id": sid,
        "template": name,
        "input": {"who": "cron"},
        "cron": "0 3 * * *",
        "timezone": "Europe/Paris",
        "paused": True,
    }
    assert (await api.post("/schedules", json=body, headers=auth("eve"))).status_code == 403
    r = await api.post("/schedules", json=body, headers=auth("dana"))
    assert r.status_code == 201, r.text
    out = r.json()
    assert out["template"] == name and out["version"] == 1 and out["paused"] is True
    assert out["cron"] == ["0 3 * * *"] and out["next_action_times"]
    assert (await api.post("/schedules", json=body, headers=auth("dana"))).status_code == 409

    desc = await client.get_schedule_handle(sid).describe()
    assert desc.schedule.policy.catchup_window == timedelta(minutes=1)
    assert desc.schedule.policy.overlap == ScheduleOverlapPolicy.SKIP
    assert desc.schedule.state.paused is True
    action = desc.schedule.action
    assert isinstance(action, ScheduleActionStartWorkflow)
    assert action.workflow == "TemplateWorkflow" and action.id == sid

    async def listed() -> list[str]:
        r = await api.get("/schedules", headers=auth("eve"))
        assert r.status_code == 200
        return [s["id"] for s in r.json()]

    for _ in range(50):
        if sid in await listed():
            break
        await asyncio.sleep(0.2)
    assert sid in await listed()
    assert (await api.delete(f"/schedules/{sid}", headers=auth("eve"))).status_code == 403
    assert (await api.delete(f"/schedules/{sid}", headers=auth("admin"))).status_code == 204
    assert (await api.delete(f"/schedules/{sid}", headers=auth("admin"))).status_code == 404


async def test_schedule_interval_triggers_runs(api: httpx.AsyncClient, client: Client) -> None:
    name = unique("every")
    await save(api, simple_template(name))
    sid = unique("tick")
    r = await api.post(
        "/schedules",
        json={"id": sid, "template": name, "input": {}, "interval": "1s"},
        headers=auth("dana"),
    )
    assert r.status_code == 201, r.text
    handle = client.get_schedule_handle(sid)
    try:
        for _ in range(40):
            desc = await handle.describe()
            if desc.info.recent_actions:
                break
            await asyncio.sleep(0.1)
        started = desc.info.recent_actions[0].action.workflow_id  # type: ignore[attr-defined]
        assert started.startswith(f"{sid}-")
    finally:
        await handle.delete()


@pytest.mark.parametrize(
    "change",
    [
        {"cron": None},
        {"interval": "1h"},
        {"cron": "not a cron"},
        {"timezone": "Mars/Base"},
        {"input": {}},
        {"template": "no-such-template-x"},
    ],
)
async def test_schedule_rejects(api: httpx.AsyncClient, change: dict[str, Any]) -> None:
    name = unique("schedbad")
    await save(api, approval_template(name))
    body = {
        "id": unique("s"),
        "template": name,
        "input": {"amount": 1},
        "cron": "0 3 * * *",
    } | change
    body = {k: v for k, v in body.items() if v is not None}
    r = await api.post("/schedules", json=body, headers=auth("dana"))
    expected = 404 if "template" in change else 422
    assert r.status_code == expected, r.text


def signed(
    body: bytes, secret: str = WEBHOOK_SECRET, header: str = "X-Signature-256"
) -> dict[str, str]:
    return {
        header: "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest(),
        "content-type": "application/json",
    }


async def test_triggers_crud(api: httpx.AsyncClient) -> None:
    name = unique("trg")
    await save(api, simple_template(name))
    rule = {
        "id": unique("on-push"),
        "source": "github",
        "when": "body.ref == 'refs/heads/main'",
        "template": name,
        "input": {"who": "${{ body.pusher.name }}"},
    }
    assert (await api.post("/triggers", json=rule, headers=auth("eve"))).status_code == 403
    r = await api.post("/triggers", json=rule, headers=auth("dana"))
    assert r.status_code == 201, r.text
    assert r.json()["created_by"] == "dana"
    assert (await api.post("/triggers", json=rule, headers=auth("dana"))).status_code == 409
    assert rule["id"] in [t["id"] for t in (await api.get("/triggers", headers=auth("eve"))).json()]
    for bad in (
        {"when": "body.ref =="},
        {"when": "input.x"},
        {"input": {"a": "${{ steps.x }}"}},
        {"template": "nope-nope"},
    ):
        r = await api.post(
            "/triggers", json=rule | {"id": unique("bad")} | bad, headers=auth("dana")
        )
        assert r.status_code == 422, (bad, r.text)
        assert r.json()["errors"][0]["loc"].startswith("body.")
    assert (await api.delete(f"/triggers/{rule['id']}", headers=auth("eve"))).status_code == 403
    assert (await api.delete(f"/triggers/{rule['id']}", headers=auth("dana"))).status_code == 204
    assert (await api.delete(f"/triggers/{rule['id']}", headers=auth("dana"))).status_code == 404


async def test_hook_starts_runs_once(api: httpx.AsyncClient) -> None:
    name = unique("hooked")
    await save(api, simple_template(name, outputs={"who": "${{ input.who }}"}))
    source = "acme"
    main_rule = {
        "id": unique("main"),
        "source": source,
        "when": "body.ref == 'refs/heads/main'",
        "template": name,
        "input": {"who": "${{ body.pusher.name }}"},
    }
    any_rule = {"id": unique("any"), "source": source, "template": name, "input": {"who": "any"}}
    for rule in (main_rule, any_rule):
        assert (await api.post("/triggers", json=rule, headers=auth("dana"))).status_code == 201

    raw = json.dumps({"ref": "refs/heads/main", "pusher": {"name": "zoe"}}).encode()
    delivery = unique("d/1")
    headers = signed(raw, header="X-Hub-Signature-256") | {"X-GitHub-Delivery": delivery}
    r = await api.post(f"/hooks/{source}", content=raw, headers=headers)
    assert r.status_code == 202, r.text
    runs = r.json()["runs"]
    assert sorted(runs) == sorted(
        triggers.run_id_for(rule["id"], delivery) for rule in (main_rule, any_rule)
    )
    again = await api.post(f"/hooks/{source}", content=raw, headers=headers)
    assert (
        again.status_code == 202
        and again.json()["runs"] == runs
        and again.json()["duplicate"] is True
    )

    main_run = next(x for x in runs if x.startswith(main_rule["id"]))
    for _ in range(50):
        # a hook's run has no human starter: the template's owner (dana) reads it
        doc = (await api.get(f"/runs/{main_run}", headers=auth("dana"))).json()
        if doc["state"] == "completed":
            break
        await asyncio.sleep(0.2)
    assert doc["output"] == {"who": "zoe"} and doc["started_by"] == f"hook:{source}"

    other = json.dumps({"ref": "refs/heads/dev"}).encode()
    r = await api.post(
        f"/hooks/{source}", content=other, headers=signed(other) | {"X-Delivery-Id": unique("d")}
    )
    assert r.status_code == 202 and [x.startswith(any_rule["id"]) for x in r.json()["runs"]] == [
        True
    ]
    for rule in (main_rule, any_rule):
        await api.delete(f"/triggers/{rule['id']}", headers=auth("dana"))


async def test_hook_rejects_bad_signatures(api: httpx.AsyncClient) -> None:
    raw = b'{"a": 1}'
    cases = [
        ("acme", {}),
        ("acme", signed(raw, secret="wrong")),
        ("acme", {"X-Signature-256": "sha256=zz"}),
        ("unconfigured", signed(raw)),
    ]
    for source, headers in cases:
        r = await api.post(f"/hooks/{source}", content=raw, headers=headers)
        assert r.status_code == 401 and r.json()["error"] == "unauthorized", (source, headers)
    bad = b"{not json"
    r = await api.post(
        "/hooks/acme", content=bad, headers=signed(bad) | {"X-Delivery-Id": unique("x")}
    )
    assert r.status_code == 422
