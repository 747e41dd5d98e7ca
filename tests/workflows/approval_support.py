"""Helpers for the approval / SLA tests: a directory file, a notification receiver, a worker."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client, WorkflowHandle
from temporalio.worker import Worker

from activities.assignees import resolve_assignees
from activities.task_notify import notify_task
from activities.webhook import webhook
from tests.helpers.directory import use_directory
from tests.helpers.http_receiver import HttpReceiver, Reply
from tests.workflows.interp_support import TEST_ACTIVITIES, worker
from workflows.engine.io import DecideInput, ReassignInput, RunStatus, StepStatus
from workflows.engine.workflow import TemplateWorkflow

APPROVAL_ACTIVITIES = [resolve_assignees, notify_task, webhook]

DIRECTORY: dict[str, Any] = {
    "users": [
        {"id": "ann", "email": "ann@example.com", "roles": ["manager"]},
        {"id": "bob", "email": "bob@example.com", "roles": ["manager"]},
        {"id": "cat", "email": "cat@example.com", "roles": ["reviewer"]},
        {"id": "dan", "email": "dan@example.com", "roles": ["director"]},
        {"id": "eve", "email": "eve@example.com", "roles": ["admin"]},
    ]
}


@pytest.fixture
def directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    yield from use_directory(tmp_path, monkeypatch, DIRECTORY)


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    """Where SLA webhooks land: every request is answered 200 `{}` and recorded."""
    with HttpReceiver(default=Reply(body={})) as r:
        yield r


def approval_worker(client: Client, **kwargs: Any) -> Worker:
    return worker(client, activities=[*TEST_ACTIVITIES, *APPROVAL_ACTIVITIES], **kwargs)


def approval(id: str, **spec: Any) -> dict[str, Any]:
    """An approval step; `sla=[...]`, `depends_on=[...]` go on the step, the rest in `approval`."""
    step: dict[str, Any] = {"id": id}
    for key in ("sla", "depends_on", "when", "run_if", "optional"):
        if key in spec:
            step[key] = spec.pop(key)
    step["approval"] = spec
    return step


async def status(h: WorkflowHandle[Any, Any]) -> RunStatus:
    return await h.query(TemplateWorkflow.status)


async def wait_for(
    h: WorkflowHandle[Any, Any], pred: Callable[[RunStatus], bool], timeout: float = 15
) -> RunStatus:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        st = await status(h)
        if pred(st):
            return st
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met; last status: {st.model_dump_json(indent=1)}")
        await asyncio.sleep(0.05)


async def waiting(h: WorkflowHandle[Any, Any], step: str) -> RunStatus:
    return await wait_for(h, lambda st: st.steps[step].state == "waiting" and bool(st.pending))


async def decide(
    h: WorkflowHandle[Any, Any], step: str, outcome: str, actor: str, **kw: Any
) -> StepStatus:
    inp = DecideInput(step=step, outcome=outcome, actor=actor, **kw)
    return await h.execute_update("decide", inp, result_type=StepStatus)


async def reassign(h: WorkflowHandle[Any, Any], step: str, actor: str, **kw: Any) -> StepStatus:
    inp = ReassignInput(step=step, actor=actor, **kw)
    return await h.execute_update("reassign", inp, result_type=StepStatus)


def tag() -> str:
    return uuid.uuid4().hex[:8]
