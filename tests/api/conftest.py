"""API test fixtures: the app in-process on SQLite and PostgreSQL, a real Temporal dev
server (session fixture `client`) and a worker with relayflow's real workflow."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from fastapi import FastAPI
from temporalio.client import Client
from temporalio.worker import Worker

from api.main import create_app
from settings import Settings
from tests.helpers.temporal import new_worker

# the machine's PostgreSQL (trust auth); override with TEST_POSTGRES_DSN=postgresql://user@host:port/db
PG_DSN = os.environ.get("TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test")
PG_SERVER = PG_DSN.replace("postgresql://", "postgresql+psycopg://", 1)
WEBHOOK_SECRET = "hook-secret"

USERS: dict[str, list[str]] = {
    "admin": ["admin"],
    "dana": ["designer"],
    "olga": ["operator"],
    "alice": ["manager"],
    "bob": ["manager"],
    "eve": [],
    # for the read/owner rules (SPEC §8): a second designer and two people with no roles
    "dirk": ["designer"],
    "carl": [],
    "fay": [],
    # approvals for people (SPEC §11)
    "mike": ["buyer"],
    "mia": ["buyer"],
    "sam": [],
}


def token(user: str) -> str:
    return f"tok-{user}-0123456789"


def auth(user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(user)}"}


@pytest.fixture(scope="session")
def directory_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import yaml

    users = [
        {"id": u, "name": u.title(), "email": f"{u}@example.com", "roles": r, "token": token(u)}
        for u, r in USERS.items()
    ]
    path = tmp_path_factory.mktemp("dir") / "directory.yaml"
    path.write_text(yaml.safe_dump({"users": users}))
    return path


@pytest.fixture(scope="session")
def pg_schema() -> Iterator[str]:
    """A private schema in the shared `test` database, dropped afterwards."""
    schema = f"rf_api_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    yield schema
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def pg_url(schema: str) -> str:
    return f"{PG_SERVER}?options=-csearch_path%3D{schema}"


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp('db') / 'relayflow.db'}"
    schema: str = request.getfixturevalue("pg_schema")
    return pg_url(schema)


@pytest.fixture(scope="session")
def task_queue() -> str:
    return f"api-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="session")
def settings(database_url: str, directory_file: Path, client: Client, task_queue: str) -> Settings:
    return Settings(
        database_url=database_url,
        directory_file=str(directory_file),
        task_queue=task_queue,
        temporal_namespace=client.namespace,
        temporal_address=client.service_client.config.target_host,
        temporal_ui_url="http://ui.test:8233",
        webhook_secrets={"github": WEBHOOK_SECRET, "acme": WEBHOOK_SECRET},
        analytics_interval=0,  # the analytics tests run their own ingesting apps
    )


@pytest.fixture(scope="session")
async def app(settings: Settings, client: Client) -> AsyncIterator[FastAPI]:
    application = create_app(settings, temporal_client=client)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture(scope="session")
async def api(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as c:
        yield c


@pytest.fixture(scope="module")
async def worker(
    client: Client, task_queue: str, directory_file: Path, settings: Settings
) -> AsyncIterator[Worker]:
    """relayflow's worker; its assignee activity reads the same directory as the API, and
    the same database (self-service delegations).

    Module-scoped so DIRECTORY_FILE / DATABASE_URL are set only while these modules run."""
    from settings import get_settings

    env = {"DIRECTORY_FILE": str(directory_file), "DATABASE_URL": settings.database_url}
    previous = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    get_settings.cache_clear()
    try:
        async with new_worker(client, task_queue=task_queue) as w:
            yield w
    finally:
        for k, v in previous.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        get_settings.cache_clear()


def simple_template(name: str, **extra: Any) -> dict[str, Any]:
    """A template that needs no network: one log step."""
    doc: dict[str, Any] = {
        "name": name,
        "description": f"{name} for tests",
        "steps": [{"id": "hello", "action": "log", "with": {"message": "hi ${{ input.who }}"}}],
    }
    doc.update(extra)
    return doc


def approval_template(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "input_schema": {
            "type": "object",
            "required": ["amount"],
            "properties": {"amount": {"type": "number"}, "who": {"type": "string"}},
        },
        "steps": [
            {"id": "approve", "approval": {"assignees": {"roles": ["manager"]}}},
            {
                "id": "done",
                "depends_on": ["approve"],
                "action": "log",
                "with": {"message": "decided ${{ steps.approve.decision }}"},
            },
        ],
        "outputs": {"decision": "${{ steps.approve.decision }}"},
    }


async def save(api: httpx.AsyncClient, doc: dict[str, Any], user: str = "dana") -> dict[str, Any]:
    r = await api.post("/templates", json=doc, headers=auth(user))
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def eventually(check: Callable[[], Awaitable[Any]], timeout: float = 10.0) -> Any:
    """Poll `check` until it returns something truthy (visibility is eventually consistent)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = await check()
        if result or asyncio.get_running_loop().time() > deadline:
            return result
        await asyncio.sleep(0.2)
