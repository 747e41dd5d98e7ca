"""A real relayflow stack for browser tests: the API served by uvicorn on a loopback
port (in the test's event loop, sharing the Temporal client), a worker, an aiosmtpd
receiver for task e-mails, and Debian's chromium driven by Playwright."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
import yaml
from aiosmtpd.controller import Controller
from temporalio.client import Client

from api.main import create_app
from settings import Settings, get_settings
from tests.helpers.temporal import new_worker

SECRET = "ui-test-decision-link-secret-0123456789"
USERS = {
    "mike": ["buyer"],
    "mia": ["buyer"],
    "sam": [],
    "eve": [],
    "dana": ["designer"],
    "admin": ["admin"],
}
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]
#: where the approver's-view screenshots go when RELAYFLOW_SCREENSHOTS=1 (docs/approvals.md)
DOC_IMAGES = Path(__file__).resolve().parents[2] / "docs" / "img"


def token(user: str) -> str:
    return f"ui-{user}-token-0123456789"


def auth(user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(user)}"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Inbox:
    """aiosmtpd handler keeping every message (with its envelope recipients)."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        msg = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(msg, EmailMessage)
        msg["X-Rcpt"] = ",".join(envelope.rcpt_tos)
        self.messages.append(msg)
        return "250 OK"

    def to(self, address: str, run_id: str) -> list[EmailMessage]:
        return [
            m
            for m in self.messages
            if m["X-Rcpt"] == address and run_id in str(m.get_body(("plain",)).get_content())  # type: ignore[union-attr]
        ]


@dataclass
class Stack:
    base: str
    api: httpx.AsyncClient
    smtp: Inbox
    settings: Settings
    shots: Path
    names: dict[str, str] = field(default_factory=dict)


@pytest.fixture(scope="module")
async def stack(
    client: Client, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    tmp = tmp_path_factory.mktemp("ui")
    directory = tmp / "directory.yaml"
    directory.write_text(
        yaml.safe_dump(
            {
                "users": [
                    {
                        "id": u,
                        "name": u.title(),
                        "email": f"{u}@example.com",
                        "roles": r,
                        "token": token(u),
                    }
                    for u, r in USERS.items()
                ]
            }
        )
    )
    smtp = Inbox()
    smtp_port = free_port()
    controller = Controller(smtp, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        "DIRECTORY_FILE": str(directory),
        "DATABASE_URL": f"sqlite:///{tmp / 'relayflow.db'}",
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(smtp_port),
        "DECISION_LINK_SECRET": SECRET,
        "API_PUBLIC_URL": base,
    }
    previous = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    get_settings.cache_clear()
    task_queue = f"ui-{uuid.uuid4().hex[:8]}"
    settings = Settings(
        task_queue=task_queue,
        temporal_namespace=client.namespace,
        temporal_address=client.service_client.config.target_host,
        api_port=port,
    )
    app = create_app(settings, temporal_client=client)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    serving = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if serving.done():
                serving.result()
            await asyncio.sleep(0.05)
        shots = DOC_IMAGES if os.environ.get("RELAYFLOW_SCREENSHOTS") == "1" else tmp / "shots"
        shots.mkdir(parents=True, exist_ok=True)
        async with new_worker(client, task_queue=task_queue):
            async with httpx.AsyncClient(base_url=base, timeout=30) as api:
                yield Stack(base=base, api=api, smtp=smtp, settings=settings, shots=shots)
    finally:
        server.should_exit = True
        await serving
        controller.stop()
        for k, v in previous.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        get_settings.cache_clear()


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Any]:
    """Debian's chromium (never a downloaded browser), headless."""
    from playwright.async_api import async_playwright

    executable = shutil.which("chromium")
    if executable is None:
        pytest.fail("chromium is not installed: apt-get install -y chromium (.ci/run does)")
    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            await b.close()


