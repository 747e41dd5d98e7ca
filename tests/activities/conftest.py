"""Real local servers for the action tests: an HTTP receiver, an SMTP server, a worker."""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from temporalio.client import Client, WorkflowHandle
from temporalio.worker import Worker

from activities.registry import all_activities
from settings import get_settings
from tests.activities.workflow import Call, CallAction
from tests.helpers.temporal import new_worker
from workflows.io import ActionRequest

# -- HTTP receiver ---------------------------------------------------------------------


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # dict/list -> JSON; str/bytes as is; None -> echo of the request
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float

    def json(self) -> Any:
        return json.loads(self.body)


class Receiver:
    """A threaded HTTP server on 127.0.0.1:<random>; scripted replies per path."""

    def __init__(self) -> None:
        self.requests: list[Seen] = []
        self._scripts: dict[str, list[Reply]] = {}
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                path = self.path.split("?")[0]
                seen = Seen(
                    self.command, self.path, dict(self.headers.items()), body, time.monotonic()
                )
                with receiver._lock:
                    receiver.requests.append(seen)
                    script = receiver._scripts.get(path) or [Reply()]
                    reply = script.pop(0) if len(script) > 1 else script[0]
                if reply.delay:
                    time.sleep(reply.delay)
                if reply.body is None:
                    payload = json.dumps(
                        {
                            "method": seen.method,
                            "path": seen.path,
                            "headers": seen.headers,
                            "body": body.decode(errors="replace"),
                        }
                    ).encode()
                    ctype = "application/json"
                elif isinstance(reply.body, dict | list):
                    payload, ctype = json.dumps(reply.body).encode(), "application/json"
                else:
                    raw = reply.body
                    payload = raw if isinstance(raw, bytes) else raw.encode()
                    ctype = "text/plain; charset=utf-8"
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", ctype)
                    for k, v in reply.headers.items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:
                    pass  # the client gave up (timeout tests)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def script(self, path: str, *replies: Reply) -> str:
        """Reply to `path` with `replies` in order (the last one repeats); returns its URL."""
        with self._lock:
            self._scripts[path] = list(replies)
        return self.url + path

    def at(self, path: str) -> list[Seen]:
        return [r for r in self.requests if r.path.split("?")[0] == path]


@pytest.fixture(scope="session")
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()


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
