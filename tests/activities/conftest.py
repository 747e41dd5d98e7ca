"""Real local servers for the action tests: an HTTP receiver, an SMTP server, a worker."""

from __future__ import annotations

import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from email import message_from_bytes
from email.message import Message
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from temporalio.client import Client, WorkflowHandle
from temporalio.worker import Worker

from activities.registry import all_activities
from settings import get_settings
from tests.activities.workflow import Call, CallAction
from tests.helpers.http_receiver import HttpReceiver
from tests.helpers.temporal import new_worker
from workflows.engine.io import ActionRequest

# -- HTTP receiver ---------------------------------------------------------------------


@pytest.fixture(scope="session")
def receiver() -> Iterator[HttpReceiver]:
    """One receiver for the session (unscripted paths echo the request); tests keep apart
    by scripting a `unique_path()` each."""
    with HttpReceiver() as r:
        yield r


def unique_path() -> str:
    return f"/{uuid.uuid4().hex[:12]}"


# -- SMTP ------------------------------------------------------------------------------


class Mailbox:
    """aiosmtpd handler keeping every message; `fail_next` tempfails that many DATAs."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], Message]] = []
        self.fail_next = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((list(envelope.rcpt_tos), message_from_bytes(envelope.content)))
        if self.fail_next:
            self.fail_next -= 1
            return "451 4.3.0 try again later"
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def smtp_server() -> Iterator[tuple[Mailbox, int]]:
    box = Mailbox()
    port = _free_port()
    ctl = Controller(box, hostname="127.0.0.1", port=port)
    ctl.start()
    yield box, port
    ctl.stop()


@pytest.fixture
def mailbox(smtp_server: tuple[Mailbox, int], monkeypatch: pytest.MonkeyPatch) -> Iterator[Mailbox]:
    """The SMTP server, configured in settings for this test."""
    box, port = smtp_server
    box.messages.clear()
    box.fail_next = 0
    monkeypatch.setenv("SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("SMTP_PORT", str(port))
    monkeypatch.setenv("SMTP_FROM", "flows@example.test")
    get_settings.cache_clear()
    yield box
    get_settings.cache_clear()


# -- Temporal --------------------------------------------------------------------------


@pytest.fixture(scope="session")
async def action_worker(client: Client) -> AsyncIterator[Worker]:
    """One worker for the module's tests: every registered action + `CallAction`."""
    worker = new_worker(client, workflows=[CallAction], activities=all_activities())
    async with worker:
        yield worker


def request(params: dict[str, Any], *, key: str | None = None) -> ActionRequest:
    run = f"run-{uuid.uuid4().hex[:8]}"
    return ActionRequest(run_id=run, step="s", idempotency_key=key or f"{run}/s", params=params)


async def start(
    client: Client, worker: Worker, action: str, params: dict[str, Any], **opts: Any
) -> WorkflowHandle[Any, Any]:
    call = Call(action=action, request=request(params), **opts)
    return await client.start_workflow(
        CallAction.run, call, id=f"call-{uuid.uuid4()}", task_queue=worker.task_queue
    )


async def run(
    client: Client, worker: Worker, action: str, params: dict[str, Any], **opts: Any
) -> Any:
    handle = await start(client, worker, action, params, **opts)
    return await handle.result()
