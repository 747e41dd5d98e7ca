"""Helpers of the subscription tests (SPEC §14): worker settings, templates, waiting."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError

from settings import get_settings
from tests.api.conftest import auth
from tests.helpers.http_receiver import HttpReceiver, Request
from workflows.engine.deliveries import deliverer_id

SIGNING_SECRET = "subs-signing-key-0123"
#: what the workers run with while these tests do: fast retries, a short idle deliverer
WORKER_ENV = {
    "RELAYFLOW_SECRET_SUBS_KEY": SIGNING_SECRET,
    "SUBSCRIPTION_RETRY_INITIAL": "0.3",
    "SUBSCRIPTION_RETRY_MAX": "0.6",
    "SUBSCRIPTION_IDLE": "1",
}


@contextmanager
def worker_env(extra: dict[str, str] | None = None) -> Iterator[None]:
    env = {**WORKER_ENV, **(extra or {})}
    previous = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    get_settings.cache_clear()
    try:
        yield
    finally:
        for k, v in previous.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        get_settings.cache_clear()


def fail_or_approve(name: str) -> dict[str, Any]:
    """Fails at `broken` with `fail: true`; else waits for an approval."""
    return {
        "name": name,
        "input_schema": {"type": "object", "properties": {"fail": {"type": "boolean"}}},
        "steps": [
            {"id": "broken", "when": "input.fail == true", "fail": {"message": "budget exceeded"}},
            {
                "id": "approve",
                "depends_on": ["broken"],
                "run_if": "none_failed",
                "approval": {"assignees": {"roles": ["manager"]}},
            },
        ],
    }


def signature_ok(request: Request, secret: str = SIGNING_SECRET) -> bool:
    expected = "sha256=" + hmac.new(secret.encode(), request.body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(request.header("X-Signature-256") or "", expected)


async def subscribe(api: httpx.AsyncClient, body: dict[str, Any], user: str = "olga") -> None:
    r = await api.post("/subscriptions", json=body, headers=auth(user))
    assert r.status_code == 201, r.text


async def unsubscribe(api: httpx.AsyncClient, sub_id: str) -> None:
    r = await api.delete(f"/subscriptions/{sub_id}", headers=auth("olga"))
    assert r.status_code == 204, r.text


async def start(api: httpx.AsyncClient, name: str, **inp: Any) -> str:
    r = await api.post("/runs", json={"template": name, "input": inp}, headers=auth("eve"))
    assert r.status_code == 201, r.text
    run_id: str = r.json()["run_id"]
    return run_id


async def arrived(rx: HttpReceiver, path: str, count: int, within: float = 5.0) -> list[Request]:
    """Poll the receiver until `count` requests reached `path` (at most `within` seconds)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while len(rx.at(path)) < count and loop.time() < deadline:
        await asyncio.sleep(0.05)
    return rx.at(path)


async def deliverer_done(client: Client, run_id: str, timeout: float = 30.0) -> bool:
    """Wait until the run's deliverer completed (it does once idle): nothing more comes."""
    handle = client.get_workflow_handle(deliverer_id(run_id))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        try:
            desc = await handle.describe()
        except RPCError:
            return False
        if desc.status == WorkflowExecutionStatus.COMPLETED:
            return True
        await asyncio.sleep(0.2)
    return False


async def event_types(client: Client, run_id: str) -> list[str]:
    """The run's history as event type names (the cost of a run)."""
    history = await client.get_workflow_handle(run_id).fetch_history()
    return [e.WhichOneof("attributes") or "" for e in history.events]
