"""Shared helpers for the interpreter tests: compile a template dict, tiny test actions, run it."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from typing import Any

from temporalio import activity
from temporalio.client import Client, WorkflowHandle
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker

from workflows.engine.attempts import AttemptInterceptor
from workflows.engine.io import ActionRequest, RunInput
from workflows.engine.workflow import TemplateWorkflow
from workflows.language.compiler import CompiledTemplate, compile_template
from workflows.language.model import Template

CALLS: Counter[str] = Counter()  # idempotency key -> calls
GATES: dict[str, asyncio.Event] = {}  # name -> event an `block` action waits for
ACTIVE: Counter[str] = Counter()  # name -> currently running `block` actions
PEAK: Counter[str] = Counter()


def plan(doc: dict[str, Any], version: int = 1) -> CompiledTemplate:
    doc = {"name": "t", **doc}
    return compile_template(Template.model_validate(doc), version)


@activity.defn(name="echo")
async def echo(req: ActionRequest) -> dict[str, Any]:
    CALLS[req.idempotency_key] += 1
    return {"params": req.params, "step": req.step, "key": req.idempotency_key}


@activity.defn(name="flaky")
async def flaky(req: ActionRequest) -> dict[str, Any]:
    """Fails `fail_times` times (per idempotency key), then succeeds; `fatal` fails for good."""
    CALLS[req.idempotency_key] += 1
    if req.params.get("fatal"):
        raise ApplicationError(req.params.get("message", "fatal"), type="Fatal", non_retryable=True)
    if activity.info().attempt <= int(req.params.get("fail_times", 0)):
        raise ApplicationError(f"attempt {activity.info().attempt} failed", type="Flaky")
    return {"attempt": activity.info().attempt}


@activity.defn(name="block")
async def block(req: ActionRequest) -> dict[str, Any]:
    """Waits until GATES[name] is set (counts concurrent callers per name); `fail` then fails."""
    name = req.params["name"]
    ACTIVE[name] += 1
    PEAK[name] = max(PEAK[name], ACTIVE[name])
    try:
        await asyncio.wait_for(GATES.setdefault(name, asyncio.Event()).wait(), 30)
    finally:
        ACTIVE[name] -= 1
    if req.params.get("fail"):
        raise ApplicationError(f"{name} failed after release", type="Fatal", non_retryable=True)
    return {"released": name}


@activity.defn(name="noop")
async def noop(req: ActionRequest) -> dict[str, Any]:
    return {}


TEST_ACTIVITIES = [echo, flaky, block, noop]


def worker(client: Client, **kwargs: Any) -> Worker:
    return Worker(
        client,
        task_queue=kwargs.pop("task_queue", f"tq-{uuid.uuid4()}"),
        workflows=kwargs.pop("workflows", [TemplateWorkflow]),
        activities=kwargs.pop("activities", TEST_ACTIVITIES),
        interceptors=[AttemptInterceptor()],
        **kwargs,
    )


async def start(
    client: Client,
    w: Worker,
    doc: dict[str, Any] | CompiledTemplate,
    input: dict[str, Any] | None = None,
    *,
    run_id: str | None = None,
    **inp: Any,
) -> WorkflowHandle[Any, Any]:
    p = doc if isinstance(doc, CompiledTemplate) else plan(doc)
    return await client.start_workflow(
        TemplateWorkflow.run,
        RunInput(plan=p, input=input or {}, **inp),
        id=run_id or f"run-{uuid.uuid4()}",
        task_queue=w.task_queue,
    )


async def run(
    client: Client,
    doc: dict[str, Any] | CompiledTemplate,
    input: dict[str, Any] | None = None,
    **inp: Any,
) -> tuple[Any, Any]:
    """Run to completion on a fresh worker; (result or exception, final status)."""
    async with worker(client) as w:
        h = await start(client, w, doc, input, **inp)
        try:
            result: Any = await h.result()
        except Exception as e:  # noqa: BLE001 - returned to the test
            result = e
        return result, await h.query(TemplateWorkflow.status)


def act(id: str, action: str = "echo", **kw: Any) -> dict[str, Any]:
    """A compact action step."""
    step: dict[str, Any] = {"id": id, "action": action}
    step.update(kw)
    return step
