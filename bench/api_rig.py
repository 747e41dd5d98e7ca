"""The real API app in-process (httpx ASGITransport), sharing the bench's Temporal client.

A throwaway SQLite database and directory file (admin, designer, manager users
with known tokens) live in a temp dir; the app's lifespan runs (migrations,
directory load) as under uvicorn.
"""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml
from temporalio.client import Client

USERS = [
    {"id": "ada", "name": "Ada Admin", "email": "ada@example.com", "roles": ["admin"], "token": "bench-token-ada-0123456789"},
    {"id": "max", "name": "Max Manager", "email": "max@example.com", "roles": ["manager"], "token": "bench-token-max-0123456789"},
]
ADMIN = {"Authorization": "Bearer bench-token-ada-0123456789"}
MANAGER = {"Authorization": "Bearer bench-token-max-0123456789"}


def write_directory(workdir: Path) -> Path:
    path = workdir / "directory.yaml"
    path.write_text(yaml.safe_dump({"users": USERS}))
    return path


def api_env(workdir: Path) -> dict[str, str]:
    """Env vars that point an API process at a fresh database and the bench directory."""
    return {
        "DATABASE_URL": f"sqlite:///{workdir / 'relayflow.db'}",
        "DIRECTORY_FILE": str(write_directory(workdir)),
    }


@dataclass
class Api:
    http: httpx.AsyncClient
    workdir: Path

    async def save_template(self, doc: dict[str, Any]) -> int:
        resp = await self.http.post("/templates", json=doc, headers=ADMIN)
        if resp.status_code != 201:
            raise RuntimeError(f"saving {doc['name']}: {resp.status_code} {resp.text}")
        return int(resp.json()["version"])


@asynccontextmanager
async def api(client: Client, task_queue: str) -> AsyncIterator[Api]:
    from api.main import create_app
    from settings import Settings

    workdir = Path(tempfile.mkdtemp(prefix="relayflow-bench-api-"))
    env = api_env(workdir)
    settings = Settings(
        temporal_address=client.service_client.config.target_host,
        temporal_namespace=client.namespace,
        task_queue=task_queue,
        database_url=env["DATABASE_URL"],
        directory_file=env["DIRECTORY_FILE"],
        analytics_interval=0,  # no background ingester skewing the other benchmarks
    )
    app = create_app(settings, temporal_client=client)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://relayflow") as http:
            yield Api(http, workdir)
