"""The in-process rig the overhead, approvals and profile benches share.

One dev server (`tests.helpers.temporal.start_dev_server`), one worker in this
process with relayflow's workflows + the hand-written ones and every action
(plus `noop`), configured the way `worker.py` configures it. Starting a run the
relayflow way mirrors what `POST /runs` does (search attributes, static summary,
id-reuse policy), so the direct path and the API path have the same run shape.
"""

from __future__ import annotations

import compileall
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from temporalio.client import Client, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

import bench.noop  # noqa: F401 - registers the `noop` action
from activities.registry import action_models
from bench import handwritten, plain
from bench.common import child_pids
from tests.helpers.temporal import start_dev_server
from workflows.engine.io import WORKFLOW_TYPE, RunInput
from workflows.language.compiler import CompiledTemplate, compile_template
from workflows.language.validate import validate_template


def compile_doc(doc: dict[str, Any], version: int = 1) -> CompiledTemplate:
    """Validate (with the real validator) and compile a template document."""
    result = validate_template(doc, actions=action_models())
    if not result.ok or result.template is None:
        problems = "; ".join(f"{f.loc}: {f.msg}" for f in result.findings)
        raise ValueError(f"bench template {doc.get('name')!r} is invalid: {problems}")
    return compile_template(result.template, version)


def relayflow_workflows() -> list[type]:
    """`TemplateWorkflow` (and friends) from worker.py; empty while the interpreter is missing."""
    import worker as relayflow_worker

    try:
        return relayflow_worker.workflows()
    except ImportError:
        return []


def new_bench_worker(client: Client, task_queue: str, **overrides: Any) -> Worker:
    import worker as relayflow_worker

    precompile(handwritten.WORKFLOWS)
    kwargs = relayflow_worker.worker_options() | overrides  # the production worker's
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[*relayflow_workflows(), *handwritten.WORKFLOWS],
        activities=relayflow_worker.activities(),
        **kwargs,
    )


async def start_relayflow(
    client: Client,
    plan: CompiledTemplate,
    task_queue: str,
    run_id: str | None = None,
    input: dict[str, Any] | None = None,
    started_by: str = "bench",
) -> WorkflowHandle[Any, Any]:
    """Start a `TemplateWorkflow` run exactly as `api.services.starting.start` shapes it."""
    from api.services.starting import search_attributes

    run_id = run_id or f"{plan.name}-{uuid.uuid4()}"
    run = RunInput(plan=plan, input=input or {}, started_by=started_by)
    return await client.start_workflow(
        WORKFLOW_TYPE,
        run,
        id=run_id,
        task_queue=task_queue,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
        search_attributes=search_attributes(run),
        static_summary=f"{plan.name}@{plan.version}",
    )


async def _start_baseline(
    client: Client,
    starts: dict[str, tuple[str, list[Any]]],
    prefix: str,
    shape: str,
    task_queue: str,
    run_id: str | None,
) -> WorkflowHandle[Any, Any]:
    wf, args = starts[shape]
    return await client.start_workflow(
        wf,
        args=args,
        id=run_id or f"{prefix}-{shape}-{uuid.uuid4()}",
        task_queue=task_queue,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
    )


async def start_handwritten(
    client: Client, shape: str, task_queue: str, run_id: str | None = None
) -> WorkflowHandle[Any, Any]:
    """Start the wrapped baseline of `shape` (`bench.handwritten`, relayflow's worker and action)."""
    return await _start_baseline(client, handwritten.STARTS, "hand", shape, task_queue, run_id)


async def start_plain(
    client: Client, shape: str, task_queue: str, run_id: str | None = None
) -> WorkflowHandle[Any, Any]:
    """Start the plain (no relayflow anywhere) baseline of `shape` (`bench.plain`)."""
    return await _start_baseline(client, plain.STARTS, "plain", shape, task_queue, run_id)


def precompile(workflow_classes: list[type]) -> None:
    """Write the bytecode of the modules the workflow sandbox imports afresh for every run
    of these workflows (and of their parent packages).

    The hand-written baselines run in the default sandbox, which re-imports their module
    per run; with PYTHONDONTWRITEBYTECODE set and no `.pyc`, each of those imports would
    also compile the source (~0.6 ms per run), a cost no deployment with bytecode pays.
    Always rewritten (`force`: compileall's freshness check looks at whole seconds only).
    """
    names = {cls.__module__ for cls in workflow_classes}
    names |= {name.rsplit(".", i)[0] for name in names for i in range(1, name.count(".") + 1)}
    for name in sorted(names):
        path = getattr(sys.modules.get(name), "__file__", None)
        if path:
            compileall.compile_file(path, quiet=2, force=True)


@dataclass
class Rig:
    env: WorkflowEnvironment
    client: Client
    task_queue: str
    server_pid: int | None
    #: the plain worker's task queue (`rig(plain=True)`), else None
    plain_task_queue: str | None = None


@asynccontextmanager
async def rig(plain_worker: bool = False, **worker_overrides: Any) -> AsyncIterator[Rig]:
    """A fresh dev server and a running in-process worker on a random task queue.

    With `plain_worker`, a second, default `Worker` (`bench.plain`: no relayflow
    interceptor, wrapper or sandbox settings) runs in the same process on its own queue."""
    env = await start_dev_server()
    precompile(plain.WORKFLOWS)
    try:
        pids = child_pids("temporal")
        tq = f"bench-{uuid.uuid4().hex[:8]}"
        async with new_bench_worker(env.client, tq, **worker_overrides):
            if not plain_worker:
                yield Rig(env, env.client, tq, pids[0] if pids else None)
                return
            ptq = f"bench-plain-{uuid.uuid4().hex[:8]}"
            async with plain.new_plain_worker(env.client, ptq):
                yield Rig(env, env.client, tq, pids[0] if pids else None, ptq)
    finally:
        await env.shutdown()
