"""`make run` with PAYLOAD_KEYS (SPEC §12): encrypted at rest, plaintext for authorised readers.

One purchase order runs through the real stack (devstack: dev server + UI, worker, API).
Its raw history, read without the codec (the `temporal` CLI and an SDK client with no
codec), holds none of the input values; the API, the relayflow CLI, the `status` query
and `temporal --codec-endpoint` (the API's codec server) show them in clear.
"""

from __future__ import annotations

import base64
import json
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.client import Client

from payload_codec import ENCODING, KEY_ID, new_key
from tests.cli.conftest import TOKENS, Cli, Stack, running_stack
from tests.helpers.http_receiver import HttpReceiver, Reply, Request
from tests.helpers.temporal import binary

ORDER = {"amount": 7319.5, "requester": "Zelda Quartermain", "po": "PO-77Q1-ZX", "cost_center": "cc-hush-93"}
SECRETS = ["7319.5", "Zelda Quartermain", "PO-77Q1-ZX", "cc-hush-93"]


def _erp(req: Request) -> Reply:
    """Budget lookups say yes; an order is answered with everything it carried."""
    if req.method == "GET":
        return Reply(body={"remaining": 10**6})
    order = req.json or {}
    return Reply(201, {"order_id": f"ORD-{order.get('po')}", "placed": order})


@pytest.fixture(scope="module")
def erp_rec() -> Iterator[HttpReceiver]:
    with HttpReceiver(default=_erp) as server:
        yield server


@pytest.fixture(scope="module")
def enc(tmp_path_factory: pytest.TempPathFactory, erp_rec: HttpReceiver) -> Iterator[Stack]:
    with running_stack(
        tmp_path_factory.mktemp("enc-stack"), erp_rec.url, PAYLOAD_KEYS=f"k1:{new_key()}"
    ) as st:
        yield st


def headers(user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[user]}"}


def temporal_show(st: Stack, run_id: str, *extra: str) -> str:
    """`temporal workflow show --output json`, every payload's data base64-decoded (the CLI
    prints even plain JSON payloads as base64): what a reader of that output can see."""
    shown = subprocess.run(
        [binary("temporal"), "workflow", "show", "-w", run_id, "--address", st.temporal,
         "--output", "json", *extra],
        capture_output=True, text=True, timeout=60,
    )
    assert shown.returncode == 0, shown.stderr
    return shown.stdout + "\n".join(_payload_texts(json.loads(shown.stdout)))


def _payload_texts(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if isinstance(node.get("metadata"), dict) and isinstance(node.get("data"), str):
            yield base64.b64decode(node["data"]).decode(errors="replace")
        for value in node.values():
            yield from _payload_texts(value)
    elif isinstance(node, list):
        for value in node:
            yield from _payload_texts(value)


def wait_state(st: Stack, run_id: str, *states: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while True:
        doc: dict[str, Any] = httpx.get(f"{st.api}/runs/{run_id}", headers=headers("sam"), timeout=30).json()
        if doc["state"] in states or time.monotonic() > deadline:
            return doc
        time.sleep(0.3)


@pytest.fixture(scope="module")
def po_run(enc: Stack, erp_rec: HttpReceiver) -> str:
    """A large purchase order, approved by a manager through the relayflow CLI; completed."""
    run_id = f"po-enc-{uuid.uuid4().hex[:8]}"
    body = {"template": "purchase-order", "run_id": run_id, "input": ORDER}
    r = httpx.post(f"{enc.api}/runs", json=body, headers=headers("sam"), timeout=30)
    assert r.status_code == 201, r.text
    assert wait_state(enc, run_id, "waiting")["state"] == "waiting"
    decided = Cli(enc)("decide", run_id, "manager_approval", "approved", user="mike")
    assert decided.exit_code == 0, decided.output
    assert wait_state(enc, run_id, "completed", "failed")["state"] == "completed"
    return run_id


def test_the_ui_is_started_with_the_api_codec_endpoint(enc: Stack) -> None:
    settings = httpx.get(f"{enc.ui}/api/v1/settings", timeout=10).json()
    assert settings["Codec"]["Endpoint"] == f"{enc.api}/codec", settings["Codec"]


async def test_raw_history_holds_no_input_value(enc: Stack, po_run: str) -> None:
    shown = temporal_show(enc, po_run)
    assert "EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED" in shown
    for secret in SECRETS:
        assert secret not in shown, f"{secret!r} readable without the codec"
    # the same history as raw protobuf bytes, read by a client that has no codec
    raw = await Client.connect(enc.temporal)
    history = await raw.get_workflow_handle(po_run).fetch_history()
    blob = history.to_json().encode() + b"".join(e.SerializeToString() for e in history.events)
    for secret in SECRETS:
        assert secret.encode() not in blob
    started = history.events[0].workflow_execution_started_event_attributes
    [payload] = started.input.payloads
    assert payload.metadata["encoding"] == ENCODING and payload.metadata[KEY_ID] == b"k1"


def test_api_cli_and_erp_see_plaintext(enc: Stack, po_run: str, erp_rec: HttpReceiver) -> None:
    doc = httpx.get(f"{enc.api}/runs/{po_run}", headers=headers("sam"), timeout=30).json()
    placed = doc["output"]["order"]
    assert placed["order_id"] == "ORD-PO-77Q1-ZX"
    assert {k: placed["placed"][k] for k in ORDER} == ORDER
    status = Cli(enc)("status", po_run, "--json")
    assert status.exit_code == 0, status.output
    for secret in SECRETS:
        assert secret in status.output
    [order] = [r for r in erp_rec.at("/orders") if (r.json or {}).get("po") == ORDER["po"]]
    assert order.json["requester"] == ORDER["requester"]  # the worker decrypted before calling


def test_temporal_cli_reads_plaintext_through_the_codec_server(enc: Stack, po_run: str) -> None:
    shown = temporal_show(
        enc, po_run, "--codec-endpoint", f"{enc.api}/codec", "--codec-auth", f"Bearer {TOKENS['olga']}"
    )
    for secret in SECRETS:
        assert secret in shown


def test_codec_endpoint_over_the_socket(enc: Stack) -> None:
    payloads = {"payloads": [{"metadata": {"encoding": "anNvbi9wbGFpbg=="}, "data": "IlBPLTEi"}]}
    assert httpx.post(f"{enc.api}/codec/decode", json=payloads, timeout=10).status_code == 401
    refused = httpx.post(f"{enc.api}/codec/decode", json=payloads, headers=headers("sam"), timeout=10)
    assert refused.status_code == 403  # a requester's token does not open payloads
    pre = httpx.options(
        f"{enc.api}/codec/decode",
        headers={"Origin": enc.ui, "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "content-type,x-namespace"},
        timeout=10,
    )
    assert pre.status_code == 200
    assert pre.headers["access-control-allow-origin"] == enc.ui
    assert pre.headers["access-control-allow-credentials"] == "true"
    sealed = httpx.post(f"{enc.api}/codec/encode", json=payloads, headers=headers("olga"), timeout=10)
    assert sealed.status_code == 200, sealed.text
    opened = httpx.post(f"{enc.api}/codec/decode", json=sealed.json(), headers=headers("olga"), timeout=10)
    assert opened.json() == payloads


def test_devstack_log_names_the_codec_server(enc: Stack) -> None:
    log = (Path(enc.env["RELAYFLOW_DATA_DIR"]) / "devstack.log").read_text()
    assert f"codec server {enc.api}/codec" in log
    assert json.dumps(ORDER["po"]) not in log
