"""Issue 20, outages: every outbound wait has a time limit and an honest answer.

- `decide` with no worker: 504 after DECISION_TIMEOUT (was: > 300 s), and the vote is
  not applied when a worker comes back (was: applied later, unknown to the caller);
- `/inbox` with no worker: 503 (was: `[]` with 200 after 19 s);
- a database that accepts connections but never answers: 503 (was: hung > 25 s);
- Temporal unreachable when the API starts: 503 on Temporal routes, then a background
  reconnect (was: 500 on every Temporal route).

Time limits are short here (2 s); traffic stays on loopback.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from temporalio.client import Client

from api.auth import DirectoryCache
from api.db import Timeouts, make_engine, sessionmaker
from api.main import create_app
from settings import Settings
from tests.api.conftest import approval_template, auth, eventually, unique
from tests.helpers.temporal import new_worker

LIMIT = 2.0


@pytest.fixture(scope="module")
async def short(settings: Settings, client: Client) -> AsyncIterator[tuple[FastAPI, Settings]]:
    """The API with 2-second limits and a task queue of its own (workers come and go)."""
    s = settings.model_copy(
        update={
            "task_queue": f"outage-{uuid.uuid4().hex[:8]}",
            "decision_timeout": LIMIT,
            "temporal_rpc_timeout": LIMIT,
        }
    )
    app = create_app(s, temporal_client=client)
    async with app.router.lifespan_context(app):
        yield app, s


@contextlib.asynccontextmanager
async def http(app: FastAPI, timeout: float = 30) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t", timeout=timeout) as c:
        yield c


@contextlib.asynccontextmanager
async def worker_up(client: Client, s: Settings, directory: Path) -> AsyncIterator[None]:
    """A worker on the module's queue; its assignee activity reads the test directory."""
    from settings import get_settings

    os.environ["DIRECTORY_FILE"] = str(directory)
    get_settings.cache_clear()
    try:
        async with new_worker(client, task_queue=s.task_queue):
            yield
    finally:
        os.environ.pop("DIRECTORY_FILE", None)
        get_settings.cache_clear()


async def _waiting_run(api: httpx.AsyncClient, client: Client, s: Settings, directory: Path) -> str:
    """A run whose approval is open, started while a worker was up (now gone)."""
    name = unique("outage")
    r = await api.post("/templates", json=approval_template(name), headers=auth("dana"))
    assert r.status_code == 201, r.text
    async with worker_up(client, s, directory):
        r = await api.post(
            "/runs", json={"template": name, "input": {"amount": 5}}, headers=auth("eve")
        )
        assert r.status_code == 201, r.text
        run_id: str = r.json()["run_id"]

        async def waiting() -> Any:
            doc = (await api.get(f"/runs/{run_id}", headers=auth("eve"))).json()
            return doc.get("pending")

        assert await eventually(waiting, timeout=30)
    return run_id


async def test_decide_without_worker_is_504_and_never_applied(
    short: tuple[FastAPI, Settings], client: Client, directory_file: Path
) -> None:
    app, s = short
    async with http(app) as api:
        run_id = await _waiting_run(api, client, s, directory_file)
        # no worker now: the decision cannot be taken
        r = await api.post(
            f"/runs/{run_id}/steps/approve/decision",
            json={"outcome": "approved"},
            headers=auth("alice"),
        )
        assert r.status_code == 504, r.text
        assert r.json()["error"] == "timeout" and "not applied" in r.json()["detail"]
        # the inbox cannot be answered either: 503, not an empty inbox
        r = await api.get("/inbox", headers=auth("alice"))
        assert r.status_code == 503, r.text
        assert "worker" in r.json()["detail"]

        # a worker comes back: the run refuses the late decision (its deadline passed)
        async with worker_up(client, s, directory_file):

            async def answered() -> Any:
                r = await api.get("/inbox", headers=auth("alice"))
                return r.status_code == 200 and any(i["run_id"] == run_id for i in r.json())

            assert await eventually(answered, timeout=30)
            doc = (await api.get(f"/runs/{run_id}", headers=auth("eve"))).json()
            assert doc["steps"]["approve"]["state"] == "waiting"
            assert not (doc["steps"]["approve"].get("output") or {}).get("decisions")
            # deciding again now works
            r = await api.post(
                f"/runs/{run_id}/steps/approve/decision",
                json={"outcome": "approved"},
                headers=auth("alice"),
            )
            assert r.status_code == 200, r.text
            assert r.json()["decision"] == "approved"


@contextlib.asynccontextmanager
async def silent_server() -> AsyncIterator[int]:
    """A loopback listener that accepts connections and never says a word."""
    held: list[asyncio.StreamWriter] = []

    async def accept(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        for w in held:
            w.close()
        server.close()


async def test_silent_database_is_503(settings: Settings) -> None:
    async with silent_server() as port:
        app = create_app(settings)
        engine = make_engine(
            f"postgresql+psycopg://postgres@127.0.0.1:{port}/x", Timeouts(connect=2, pool=2)
        )
        app.state.sessionmaker = sessionmaker(engine)
        app.state.directory = DirectoryCache(settings.directory_file)
        try:
            async with http(app) as api:
                r = await api.get("/templates", headers=auth("eve"))
        finally:
            await engine.dispose()
    assert r.status_code == 503, r.text
    assert r.json()["error"] == "unavailable"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.asynccontextmanager
async def forwarder(port: int, target: str) -> AsyncIterator[None]:
    """Temporal coming up at `port`: a loopback TCP relay to the real dev server."""
    host, _, tport = target.rpartition(":")

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    tasks: set[asyncio.Task[None]] = set()

    async def relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(host, int(tport))
        for t in (pipe(reader, up_writer), pipe(up_reader, writer)):
            task = asyncio.create_task(t)
            tasks.add(task)
            task.add_done_callback(tasks.discard)

    server = await asyncio.start_server(relay, "127.0.0.1", port)
    try:
        yield
    finally:
        server.close()
        for task in list(tasks):
            task.cancel()


async def test_temporal_down_at_start_is_503_then_reconnects(
    settings: Settings, client: Client
) -> None:
    port = _free_port()  # nothing listens there yet: Temporal is "down"
    s = settings.model_copy(update={"temporal_address": f"127.0.0.1:{port}"})
    app = create_app(s)
    async with app.router.lifespan_context(app), http(app) as api:
        for path in ("/runs", "/inbox", "/schedules"):
            r = await api.get(path, headers=auth("eve"))
            assert r.status_code == 503, (path, r.text)
            assert r.json()["error"] == "unavailable" and "Temporal" in r.json()["detail"]
        r = await api.get("/health")
        assert r.status_code == 503 and r.json()["temporal"] == "unreachable"
        # Temporal comes up: the API connects in the background, no restart needed
        async with forwarder(port, client.service_client.config.target_host):

            async def up() -> bool:
                return (await api.get("/runs", headers=auth("eve"))).status_code == 200

            assert await eventually(up, timeout=30)
            assert (await api.get("/health")).status_code == 200


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_database_sessions_carry_the_statement_timeout(app: FastAPI) -> None:
    """PostgreSQL sessions get `statement_timeout` (DATABASE_STATEMENT_TIMEOUT) and keep the
    options given in the URL (the tests' search_path). PostgreSQL only: SQLite has no
    statement timeout."""
    from sqlalchemy import text

    async with app.state.sessionmaker() as session:
        timeout = (await session.exec(text("SHOW statement_timeout"))).one()[0]  # type: ignore[call-overload]
        path = (await session.exec(text("SHOW search_path"))).one()[0]  # type: ignore[call-overload]
    assert timeout == "15s"
    assert path.startswith("rf_api_")


async def test_checks_off_the_event_loop_have_a_time_limit(
    settings: Settings, client: Client
) -> None:
    """input_schema checks and trigger expressions run in a thread with CHECK_TIMEOUT (the
    e-mail pattern froze the loop for 9 s). A zero limit makes every check time out."""
    import json

    from tests.api.conftest import save, simple_template
    from tests.api.test_schedules_triggers import signed

    app = create_app(settings.model_copy(update={"check_timeout": 0.0}), temporal_client=client)
    async with app.router.lifespan_context(app), http(app) as api:
        name = unique("slow")
        await save(api, simple_template(name, input_schema={"type": "object"}))
        r = await api.post("/runs", json={"template": name, "input": {}}, headers=auth("eve"))
        assert r.status_code == 422 and "CHECK_TIMEOUT" in r.json()["detail"], r.text
        rule = {"id": unique("slow"), "source": "acme", "template": name, "input": {}}
        assert (await api.post("/triggers", json=rule, headers=auth("dana"))).status_code == 201
        try:
            raw = json.dumps({"nonce": unique("n")}).encode()
            r = await api.post("/hooks/acme", content=raw, headers=signed(raw))
            assert r.status_code == 202, r.text
            skipped = {s["loc"]: s["msg"] for s in r.json()["skipped"]}
            assert "CHECK_TIMEOUT" in skipped[f"triggers.{rule['id']}"]
        finally:
            await api.delete(f"/triggers/{rule['id']}", headers=auth("dana"))
