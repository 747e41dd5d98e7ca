"""What an operator sees in the Temporal Web UI for a run started through the API.

- the run's static summary is `template@version` (set by the API at start);
- its current details are a markdown table of the steps with states and who each
  approval waits for (kept up to date by TemplateWorkflow, read here through the
  same `__temporal_workflow_metadata` query the UI uses);
- each activity in history carries a summary naming its step.
"""

from __future__ import annotations

import json
import time
import uuid

import httpx
from temporalio.api.enums.v1 import EventType
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import Client

from payload_codec import data_converter
from settings import get_settings
from tests.cli.conftest import TOKENS, Stack


def _start_and_wait_waiting(stack: Stack, run_id: str) -> dict:
    headers = {"Authorization": f"Bearer {TOKENS['sam']}"}
    body = {
        "template": "purchase-order", "run_id": run_id,
        "input": {"amount": 9000, "requester": "sam", "po": "PO-UI", "cost_center": "cc"},
    }
    r = httpx.post(f"{stack.api}/runs", json=body, headers=headers, timeout=30)
    assert r.status_code == 201, r.text
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        doc = httpx.get(f"{stack.api}/runs/{run_id}", headers=headers, timeout=30).json()
        if doc["state"] != "running":
            return doc
        time.sleep(0.3)
    raise AssertionError(f"run stayed running: {json.dumps(doc)}")


async def test_summary_details_and_activity_summaries(stack: Stack) -> None:
    run_id = f"po-ui-{uuid.uuid4().hex[:8]}"
    doc = _start_and_wait_waiting(stack, run_id)
    assert doc["state"] == "waiting", doc

    # the stack inherits this process's environment, PAYLOAD_KEYS included
    client = await Client.connect(stack.temporal, data_converter=data_converter(get_settings()))
    handle = client.get_workflow_handle(run_id)
    desc = await handle.describe()
    assert await desc.static_summary() == f"purchase-order@{doc['version']}"

    # describe() carries static summary/details only; current details travel in the
    # built-in metadata query, which is what the Web UI calls
    meta = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
    details = meta.current_details
    assert f"purchase-order@{doc['version']}" in details and "| step" in details, details
    for line in ("check_budget", "manager_approval", "place_order"):
        assert line in details
    approval_row = next(x for x in details.splitlines() if "manager_approval" in x)
    assert "waiting" in approval_row and "role:manager" in approval_row

    summaries = []
    async for event in handle.fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED and event.HasField("user_metadata"):
            # decode (not just convert): with PAYLOAD_KEYS set, summaries are encrypted too
            [summary] = await client.data_converter.decode([event.user_metadata.summary], [str])
            summaries.append(summary)
    assert any(s.startswith("check_budget") for s in summaries), summaries

    await handle.cancel()
