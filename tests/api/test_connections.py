"""Connections (SPEC §8) through the API on SQLite and PostgreSQL, with real receivers."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from temporalio.client import Client
from temporalio.worker import Worker

from api.models import ConnectionRow, utcnow
from api.services.connections import HealthScheduler
from tests.api.conftest import auth, eventually, save, unique
from tests.helpers.http_receiver import HttpReceiver, Reply

pytestmark = pytest.mark.usefixtures("worker")


@pytest.fixture
def rx() -> Iterator[HttpReceiver]:
    with HttpReceiver() as r:
        yield r


async def create(api: httpx.AsyncClient, body: dict[str, Any], user: str = "admin") -> httpx.Response:
    return await api.post("/connections", json=body, headers=auth(user))


def http_template(name: str, conn: str, **with_: Any) -> dict[str, Any]:
    return {
        "name": name,
        "steps": [{"id": "call", "action": "http",
                   "with": {"method": "POST", "connection": conn, "path": "/orders",
                            "json": {"n": "${{ input.n }}"}, **with_}}],
        "outputs": {"echo": "${{ steps.call.output.body }}"},
    }


async def test_crud_roles_and_secret_names_only(api: httpx.AsyncClient) -> None:
    name = unique("erp")
    body = {
        "name": name,
        "base_url": "https://erp.example.test/api",
        "auth": {"type": "basic", "username": "relay", "secret": "ERP_PASSWORD"},
        "headers": {"Accept": "application/json"},
        "health": {"path": "/ping", "every": "10m"},
    }
    r = await create(api, body, user="dana")  # a designer may not hold credentials
    assert r.status_code == 403 and r.json()["error"] == "forbidden"
    r = await create(api, body)
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["auth"] == {"type": "basic", "username": "relay", "secret": "ERP_PASSWORD"}
    assert created["health"] == {
        "status": "unknown", "checked_at": None, "latency_ms": None, "error": None,
        "path": "/ping", "method": "GET", "expect": ["2xx"], "every": "10m",
    }
    assert created["created_by"] == "admin"
    assert (await create(api, body)).status_code == 409

    for user in ("eve", "dana", "olga"):  # any authenticated user reads
        r = await api.get(f"/connections/{name}", headers=auth(user))
        assert r.status_code == 200 and r.json()["auth"]["secret"] == "ERP_PASSWORD"
    listed = (await api.get("/connections", headers=auth("eve"))).json()
    assert name in [c["name"] for c in listed]
    assert (await api.get("/connections")).status_code == 401
    assert (await api.get("/connections/no-such-conn", headers=auth("eve"))).status_code == 404

    changed = {**body, "base_url": "https://erp2.example.test"}
    for user in ("dana", "olga"):
        assert (await api.put(f"/connections/{name}", json=changed, headers=auth(user))).status_code == 403
    r = await api.put(f"/connections/{name}", json={**changed, "name": "other"}, headers=auth("admin"))
    assert r.status_code == 422
    r = await api.put(f"/connections/{name}", json=changed, headers=auth("admin"))
    assert r.status_code == 200 and r.json()["base_url"] == "https://erp2.example.test"
    assert (await api.delete(f"/connections/{name}", headers=auth("dana"))).status_code == 403
    assert (await api.delete(f"/connections/{name}", headers=auth("admin"))).status_code == 204
    assert (await api.get(f"/connections/{name}", headers=auth("eve"))).status_code == 404


@pytest.mark.parametrize(
    ("bad", "where"),
    [
        ({"base_url": "ftp://x.test"}, "base_url"),
        ({"base_url": "https://user:pw@x.test"}, "base_url"),
        ({"auth": {"type": "bearer", "secret": "not a name"}}, "auth"),
        ({"auth": {"type": "oauth", "secret": "X"}}, "auth"),
        ({"headers": {"Authorization": "secret:TOKEN"}}, "headers"),
        ({"health": {"every": "0s"}}, "health"),
        ({"name": "Bad Name"}, "name"),
    ],
)
async def test_bad_definitions_are_422(api: httpx.AsyncClient, bad: dict[str, Any], where: str) -> None:
    body = {"name": unique("c"), "base_url": "https://x.test", **bad}
    r = await create(api, body)
    assert r.status_code == 422, r.text
    assert any(e["loc"].startswith(f"body.{where}") for e in r.json()["errors"]), r.json()


async def test_health_ok_and_failing_against_a_real_receiver(api: httpx.AsyncClient, rx: HttpReceiver) -> None:
    rx.script("/up", Reply(204))
    rx.script("/down", Reply(503, "maintenance"))
    ok, down, dead = unique("up"), unique("down"), unique("dead")
    body = {"name": ok, "base_url": rx.url, "health": {"path": "/up", "expect": 204}}
    assert (await create(api, body)).status_code == 201
    assert (await create(api, {"name": down, "base_url": rx.url, "health": {"path": "/down"}})).status_code == 201
    with HttpReceiver() as gone:
        closed = gone.url  # a port nobody listens on any more
    assert (await create(api, {"name": dead, "base_url": closed})).status_code == 201

    assert (await api.post(f"/connections/{ok}/check", headers=auth("dana"))).status_code == 403
    r = await api.post(f"/connections/{ok}/check", headers=auth("olga"))
    assert r.status_code == 200, r.text
    h = r.json()
    assert h["status"] == "ok" and h["error"] is None
    assert isinstance(h["latency_ms"], int) and h["latency_ms"] >= 0 and h["checked_at"]
    # the receiver was called: by this check (the background scheduler may also have
    # claimed the new connection's first check meanwhile: at most one more call)
    assert 1 <= len(rx.at("/up")) <= 2

    h = (await api.post(f"/connections/{down}/check", headers=auth("admin"))).json()
    assert h["status"] == "failing" and h["error"] == "GET /down -> 503 Service Unavailable"
    h = (await api.post(f"/connections/{dead}/check", headers=auth("admin"))).json()
    assert h["status"] == "failing" and "GET / failed: ConnectError" in h["error"]
    got = (await api.get(f"/connections/{down}", headers=auth("eve"))).json()["health"]
    assert got["status"] == "failing" and got["latency_ms"] is not None


async def test_health_checks_respect_the_egress_policy(api: httpx.AsyncClient, rx: HttpReceiver) -> None:
    """The check reaches its own base_url, but a relayflow address never (whatever it says)."""
    name = unique("self")
    body = {"name": name, "base_url": "http://127.0.0.1:8000", "health": {"path": "/health"}}
    assert (await create(api, body)).status_code == 201  # API_HOST:API_PORT of the defaults
    h = (await api.post(f"/connections/{name}/check", headers=auth("admin"))).json()
    assert h["status"] == "failing"
    assert h["error"].startswith("egress to 127.0.0.1:8000 is not allowed (relayflow's own")


async def test_scheduled_checks_run_once_per_period_across_replicas(
    api: httpx.AsyncClient, app: FastAPI, rx: HttpReceiver
) -> None:
    name = unique("sched")
    path = f"/{name}"
    rx.script(path, Reply(200, "fine", delay=0.2))
    body = {"name": name, "base_url": rx.url, "health": {"path": path, "every": "1h"}}
    assert (await create(api, body)).status_code == 201
    replicas = [HealthScheduler(app.state.sessionmaker) for _ in range(3)]
    await asyncio.gather(*(r.run_once() for r in replicas))  # all three see it due

    async def checked() -> dict[str, Any] | None:
        h = (await api.get(f"/connections/{name}", headers=auth("eve"))).json()["health"]
        return h if h["status"] != "unknown" else None

    health = await eventually(checked)
    assert health and health["status"] == "ok"
    assert len(rx.at(path)) == 1  # one check, whichever replica (or the API's own) claimed it
    await asyncio.gather(*(r.run_once() for r in replicas))
    assert len(rx.at(path)) == 1  # not due again before `every`

    async with app.state.sessionmaker() as session:  # an hour later ...
        row = await session.get(ConnectionRow, name)
        assert row is not None
        row.checked_at = utcnow() - timedelta(hours=1, seconds=1)
        session.add(row)
        await session.commit()
    await asyncio.gather(*(r.run_once() for r in replicas))
    assert await eventually(lambda: _hits(rx, path, 2))


async def _hits(rx: HttpReceiver, path: str, n: int) -> bool:
    return len(rx.at(path)) == n


async def test_unknown_connection_is_422_at_save(api: httpx.AsyncClient) -> None:
    r = await api.post("/templates", json=http_template(unique("t"), "no-such-erp"), headers=auth("dana"))
    assert r.status_code == 422
    assert r.json()["errors"] == [{
        "loc": "steps[0].with.connection",
        "msg": "unknown connection 'no-such-erp' (connections are defined by an admin: POST /connections)",
    }]
    r = await api.post("/templates/validate", json=http_template(unique("t"), "no-such-erp"), headers=auth("eve"))
    assert r.status_code == 422


async def test_secret_in_a_header_is_422_at_save(api: httpx.AsyncClient) -> None:
    doc = {"name": unique("t"), "steps": [{"id": "s", "action": "http", "with": {
        "url": "https://x.test/", "headers": {"Authorization": "secret:DATABASE_URL"}}}]}
    r = await api.post("/templates", json=doc, headers=auth("dana"))
    assert r.status_code == 422
    assert r.json()["errors"] == [{
        "loc": "steps[0].with.headers.Authorization",
        "msg": "secrets can only be sent through a connection",
    }]


async def _run(api: httpx.AsyncClient, template: str, n: int) -> dict[str, Any]:
    r = await api.post("/runs", json={"template": template, "input": {"n": n}}, headers=auth("eve"))
    assert r.status_code == 201, r.text
    run_id = r.json()["run_id"]

    async def done() -> dict[str, Any] | None:
        doc = (await api.get(f"/runs/{run_id}", headers=auth("eve"))).json()
        return doc if doc["state"] not in ("running", "waiting") else None

    doc = await eventually(done, timeout=30)
    assert doc and doc["state"] == "completed", doc
    return doc


async def test_bearer_connection_rotation_and_no_leak(
    api: httpx.AsyncClient, client: Client, worker: Worker, rx: HttpReceiver,
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    conn, template = unique("vault"), unique("uses-vault")
    secret = unique("ROT_TOKEN").replace("-", "_").upper()
    body = {"name": conn, "base_url": rx.url,
            "auth": {"type": "bearer", "secret": secret},
            "headers": {"X-Team": "ops"}}
    assert (await create(api, body)).status_code == 201
    # a step's own Authorization is overridden by the connection's
    await save(api, http_template(template, conn, headers={"Authorization": "Bearer mine", "X-Step": "1"}))

    values = ["tok-first-3f9a0c1e5b7d", "tok-second-8e2b4d6f0a1c"]
    responses: list[str] = []
    docs = []
    with caplog.at_level(logging.DEBUG):
        for i, value in enumerate(values):  # rotate between two runs, template untouched
            monkeypatch.setenv(f"RELAYFLOW_SECRET_{secret}", value)
            doc = await _run(api, template, i)
            docs.append(doc)
            responses.append((await api.get(f"/runs/{doc['run_id']}", headers=auth("eve"))).text)
            responses.append((await api.get(f"/connections/{conn}", headers=auth("eve"))).text)
            responses.append((await api.get("/connections", headers=auth("eve"))).text)
            responses.append((await api.get("/runs", params={"template": template}, headers=auth("eve"))).text)
    seen = rx.at("/orders")
    assert [r.header("Authorization") for r in seen] == [f"Bearer {v}" for v in values]
    assert all(r.header("X-Team") == "ops" and r.header("X-Step") == "1" for r in seen)
    # the echo came back with the token in it: masked in the output
    assert docs[0]["output"]["echo"]["headers"]["Authorization"] == "Bearer ***"

    histories = b""
    for doc in docs:
        events = (await client.get_workflow_handle(doc["run_id"]).fetch_history()).events
        histories += b"".join(e.SerializeToString() for e in events)
    assert secret.encode() in histories  # the pinned connection names its secret ...
    everything = "\n".join([*responses, caplog.text])
    for value in values:  # ... and no value is anywhere
        assert value.encode() not in histories
        assert value not in everything


async def test_a_run_pins_the_connection_at_start(api: httpx.AsyncClient, rx: HttpReceiver) -> None:
    conn, template = unique("pin"), unique("uses-pin")
    assert (await create(api, {"name": conn, "base_url": rx.url})).status_code == 201
    await save(api, http_template(template, conn))
    doc = await _run(api, template, 1)
    assert len(rx.at("/orders")) == 1
    with HttpReceiver() as other:
        r = await api.put(f"/connections/{conn}", json={"base_url": other.url}, headers=auth("admin"))
        assert r.status_code == 200
        await _run(api, template, 2)  # new runs pin the new definition
        assert len(other.at("/orders")) == 1 and len(rx.at("/orders")) == 1
    assert doc["output"]["echo"]["path"] == "/orders"
    assert (await api.delete(f"/connections/{conn}", headers=auth("admin"))).status_code == 204
    r = await api.post("/runs", json={"template": template, "input": {"n": 3}}, headers=auth("eve"))
    assert r.status_code == 422
    assert r.json()["errors"][0]["loc"] == "steps[0].with.connection"


async def test_subflows_and_sla_notifications_use_pinned_connections(
    api: httpx.AsyncClient, rx: HttpReceiver
) -> None:
    """A child run gets the connections its template names; an SLA level can notify
    through one too (the pinned connection travels with every action call)."""
    conn, child, parent = unique("notify"), unique("child"), unique("parent")
    assert (await create(api, {"name": conn, "base_url": rx.url})).status_code == 201
    await save(api, {
        "name": child,
        "steps": [{"id": "ping", "action": "webhook",
                   "with": {"connection": conn, "path": "/from-child", "json": {"x": 1}}}],
    })
    await save(api, {
        "name": parent,
        "steps": [
            {"id": "sub", "subflow": {"template": child}},
            {"id": "approve", "depends_on": ["sub"],
             "approval": {"assignees": {"roles": ["manager"]}},
             "sla": [{"after": "1s", "level": "nudge", "notify": {
                 "action": "http",
                 "with": {"method": "POST", "connection": conn, "path": "/nudge",
                          "json": {"run": "${{ run.id }}"}}}}]},
        ],
    })
    r = await api.post("/runs", json={"template": parent, "input": {}}, headers=auth("eve"))
    assert r.status_code == 201, r.text
    run_id = r.json()["run_id"]
    try:
        assert await eventually(lambda: _hits(rx, "/from-child", 1), timeout=20)
        assert await eventually(lambda: _hits(rx, "/nudge", 1), timeout=20)
        assert rx.at("/nudge")[0].json == {"run": run_id}
    finally:
        await api.post(f"/runs/{run_id}/cancel", headers=auth("eve"))
