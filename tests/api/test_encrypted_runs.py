"""Runs with PAYLOAD_KEYS on the real dev server (SPEC §12): key rotation, failure messages,
payloads near Temporal's size limit. The API and worker here use the encrypting converter;
"raw" reads use a client on the same server without any codec (what Temporal stores).
"""

from __future__ import annotations

import base64
import json
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.client import Client, WorkflowFailureError, WorkflowHistory
from temporalio.exceptions import ApplicationError

from api.main import create_app
from payload_codec import ENCODING, KEY_ID, PayloadDecryptError, data_converter, new_key
from settings import Settings, get_settings
from tests.api.conftest import approval_template, auth, eventually, save, unique
from tests.helpers.http_receiver import HttpReceiver, Reply
from tests.helpers.language import validate_template
from tests.helpers.temporal import new_worker
from workflows.engine.io import WORKFLOW_TYPE, RunInput
from workflows.language.compiler import compile_template

K1, K2 = new_key(), new_key()
ONLY_K1, ROTATED = f"k1:{K1}", f"k2:{K2},k1:{K1}"


@pytest.fixture(scope="module", autouse=True)
def directory_env(directory_file: Path) -> Iterator[None]:
    """The worker's assignee lookup reads DIRECTORY_FILE from the environment."""
    previous = os.environ.get("DIRECTORY_FILE")
    os.environ["DIRECTORY_FILE"] = str(directory_file)
    get_settings.cache_clear()
    yield
    if previous is None:
        os.environ.pop("DIRECTORY_FILE", None)
    else:
        os.environ["DIRECTORY_FILE"] = previous
    get_settings.cache_clear()


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('enc') / 'relayflow.db'}"


def keyed(client: Client, keys: str) -> Client:
    """A client on the same server whose converter encrypts with `keys`."""
    conv = data_converter(Settings(_env_file=None, payload_keys=keys))  # type: ignore[call-arg]
    return Client(client.service_client, namespace=client.namespace, data_converter=conv)


@asynccontextmanager
async def stack(
    client: Client, keys: str, tq: str, db: str, directory_file: Path
) -> AsyncIterator[tuple[Client, httpx.AsyncClient]]:
    """Worker + in-process API, both with `keys`, on task queue `tq`."""
    enc = keyed(client, keys)
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=db, directory_file=str(directory_file), task_queue=tq,
        temporal_namespace=client.namespace, payload_keys=keys,
    )
    app = create_app(settings, temporal_client=enc)
    async with new_worker(enc, task_queue=tq), app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as api:
            yield enc, api


async def raw_history(client: Client, run_id: str) -> WorkflowHistory:
    """The history exactly as Temporal stores it, fetched by a client without any codec."""
    plain = keyed(client, "")
    assert plain.data_converter.payload_codec is None
    return await plain.get_workflow_handle(run_id).fetch_history()


def raw_bytes(history: WorkflowHistory) -> bytes:
    return b"".join(e.SerializeToString() for e in history.events)


def key_ids(history: WorkflowHistory) -> set[bytes]:
    """The key ids on every payload of the history (walked in its proto JSON form)."""
    found: set[bytes] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            meta = node.get("metadata")
            if isinstance(meta, dict) and KEY_ID in meta:
                found.add(base64.b64decode(meta[KEY_ID]))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(json.loads(history.to_json()))
    return found


async def state_of(api: httpx.AsyncClient, run_id: str, *states: str) -> dict[str, Any] | None:
    async def check() -> dict[str, Any] | None:
        doc: dict[str, Any] = (await api.get(f"/runs/{run_id}", headers=auth("eve"))).json()
        return doc if doc.get("state") in states else None

    result: dict[str, Any] | None = await eventually(check, timeout=30)
    return result


async def test_rotation_runs_started_under_k1_finish_and_stay_readable_under_k2(
    client: Client, db: str, directory_file: Path
) -> None:
    tq, who = f"rot-{uuid.uuid4().hex[:8]}", f"Quincy Rotation {uuid.uuid4().hex[:6]}"
    doc = approval_template(unique("rot"))
    async with stack(client, ONLY_K1, tq, db, directory_file) as (_, api):
        await save(api, doc)
        r = await api.post("/runs", json={"template": doc["name"], "input": {"amount": 5000, "who": who}},
                           headers=auth("eve"))
        assert r.status_code == 201, r.text
        run_id = r.json()["run_id"]
        assert await state_of(api, run_id, "waiting")
    # k2 becomes current; k1 stays in the list. A new worker replays the k1 history.
    async with stack(client, ROTATED, tq, db, directory_file) as (enc, api):
        waiting = await state_of(api, run_id, "waiting")
        assert waiting and waiting["pending"][0]["step"] == "approve"
        r = await api.post(f"/runs/{run_id}/steps/approve/decision", json={"outcome": "approved"},
                           headers=auth("alice"))
        assert r.status_code == 200, r.text
        done = await state_of(api, run_id, "completed")
        assert done and done["output"] == {"decision": "approved"}
        started = await enc.get_workflow_handle(run_id).fetch_history()
        [run_input] = await enc.data_converter.decode(
            started.events[0].workflow_execution_started_event_attributes.input.payloads, [RunInput]
        )
        assert run_input.input == {"amount": 5000, "who": who}  # written under k1, read under k2
    history = await raw_history(client, run_id)
    assert key_ids(history) == {b"k1", b"k2"}
    assert who.encode() not in raw_bytes(history)
    # a reader that only has k1 cannot open what k2 wrote, and says which key it lacks
    with pytest.raises(PayloadDecryptError, match="key id 'k2', which is not in PAYLOAD_KEYS"):
        await keyed(client, ONLY_K1).get_workflow_handle(run_id).result()


async def test_failure_messages_are_encrypted_and_readable_through_the_api(
    client: Client, db: str, directory_file: Path
) -> None:
    ref, body = f"REF-{uuid.uuid4().hex[:8]}", f"denied for account {uuid.uuid4().hex[:8]}"
    doc = {
        "name": unique("encfail"),
        "steps": [{"id": "call", "action": "http",
                   "with": {"method": "POST", "url": "${{ input.base }}/orders/${{ input.ref }}"}}],
    }
    with HttpReceiver(default=Reply(400, body)) as erp:
        async with stack(client, ROTATED, f"fail-{uuid.uuid4().hex[:8]}", db, directory_file) as (_, api):
            await save(api, doc)
            r = await api.post("/runs", json={"template": doc["name"], "input": {"base": erp.url, "ref": ref}},
                               headers=auth("eve"))
            assert r.status_code == 201, r.text
            run_id = r.json()["run_id"]
            failed = await state_of(api, run_id, "failed")
            assert failed, "the run did not fail"
            shown = str(failed)
            assert body in shown and ref in shown  # the API decodes the failure
    history = await raw_history(client, run_id)
    blob = raw_bytes(history)
    assert body.encode() not in blob and ref.encode() not in blob
    failures = [e.activity_task_failed_event_attributes.failure for e in history.events
                if e.HasField("activity_task_failed_event_attributes")]
    assert failures and all(f.message == "Encoded failure" for f in failures)
    assert all(f.encoded_attributes.metadata["encoding"] == ENCODING for f in failures)


async def test_a_payload_near_temporals_size_limit(client: Client) -> None:
    """1.5 MB of run input (Temporal's limit is 2 MB per payload) through start, worker, result."""
    doc = {"name": "enc-big", "steps": [{"id": "hello", "action": "log", "with": {"message": "hi"}}],
           "outputs": {"size": "${{ size(input.blob) }}"}}
    checked = validate_template(doc)
    assert checked.ok and checked.template is not None, checked.findings
    marker = f"BIG-{uuid.uuid4().hex}"
    blob = marker + os.urandom(1_100_000).hex()[: 1_500_000 - len(marker)]
    enc, tq = keyed(client, ROTATED), f"big-{uuid.uuid4().hex[:8]}"
    run = RunInput(plan=compile_template(checked.template, 1), input={"blob": blob}, started_by="test")
    async with new_worker(enc, task_queue=tq):
        handle = await enc.start_workflow(WORKFLOW_TYPE, run, id=f"big-{uuid.uuid4().hex[:8]}", task_queue=tq)
        try:
            result = await handle.result()
        except WorkflowFailureError as e:  # show the cause, not just "workflow failed"
            cause = e.cause
            raise AssertionError(cause.message if isinstance(cause, ApplicationError) else cause) from e
    assert result == {"size": 1_500_000}
    history = await raw_history(client, handle.id)
    [sealed] = history.events[0].workflow_execution_started_event_attributes.input.payloads
    assert sealed.metadata["encoding"] == ENCODING and len(sealed.data) > 1_500_000
    assert marker.encode() not in raw_bytes(history)
