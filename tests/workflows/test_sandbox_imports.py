"""The workflow sandbox re-imports nothing of relayflow per run: the language, the kinds
and the engine are passed through (and, on relayflow's workers, the workflow module
too), so a run neither re-registers kinds (rebuilding every pydantic model of the
language) nor re-executes engine modules."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from temporalio.client import Client

import workflows.language.kinds as kinds_module
from tests.helpers.temporal import new_worker
from tests.workflows.interp_support import plan, worker
from workflows.engine.io import RunInput


async def test_a_run_imports_no_kind_and_rebuilds_no_model(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[Any] = []
    monkeypatch.setattr(kinds_module, "register", lambda *k: calls.append(k))
    monkeypatch.setattr(kinds_module, "rebuild_models", lambda: calls.append("rebuild"))
    doc = {
        "steps": [
            {"id": "a", "action": "echo", "with": {"x": 1}},
            {"id": "b", "depends_on": ["a"], "set": {"y": "${{ steps.a.output.params.x }}"}},
        ]
    }
    async with worker(client) as w:
        out = await client.execute_workflow(
            "TemplateWorkflow",
            RunInput(plan=plan(doc)),
            id=f"sandbox-{uuid.uuid4()}",
            task_queue=w.task_queue,
        )
    assert out == {}
    assert calls == []


async def test_the_sandbox_leaves_the_host_language_package_alone(client: Client) -> None:
    """The sandbox re-imports a worker's failure types (`BudgetExceeded`). In a workflow
    module that passes `workflows.engine.io` through (so the sandbox holds the host's
    `workflows` package), that second copy of `workflows.language` replaced the host
    package's `workflows.language` attribute — until the worker passed it through by name."""
    import sys

    import workflows.language.loader  # noqa: F401 - the attribute checked below
    from tests.activities.workflow import Call, CallAction
    from workflows.engine.io import ActionRequest

    request = ActionRequest(run_id="r", step="s", idempotency_key="k", params={"message": "hi"})
    async with new_worker(client, workflows=[CallAction]) as w:
        await client.execute_workflow(
            CallAction.run,
            Call(action="log", request=request),
            id=f"sandbox-{uuid.uuid4()}",
            task_queue=w.task_queue,
        )
    assert sys.modules["workflows"].language is sys.modules["workflows.language"]
    assert sys.modules["workflows.language"].loader is sys.modules["workflows.language.loader"]


async def test_the_production_sandbox_imports_nothing_of_ours_per_run(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`worker.workflow_runner()` passes the whole `workflows` package through: a run uses
    the host's workflow module (a global patched here is seen), where the default sandbox
    imports a fresh copy of it per run (the patch is not seen)."""
    import workflows.engine.workflow as workflow_module

    seen: list[str] = []

    class Recording(workflow_module.Runtime):  # type: ignore[name-defined,misc]
        def __init__(self, inp: RunInput) -> None:
            seen.append(inp.plan.name)
            super().__init__(inp)

    monkeypatch.setattr(workflow_module, "Runtime", Recording)
    doc = {"name": "passthrough", "steps": [{"id": "a", "set": {"x": 1}}]}

    async def one_run(w: Any) -> None:
        async with w:
            await client.execute_workflow(
                "TemplateWorkflow",
                RunInput(plan=plan(doc)),
                id=f"sandbox-{uuid.uuid4()}",
                task_queue=w.task_queue,
            )

    await one_run(new_worker(client))
    assert seen == ["passthrough"]
    await one_run(worker(client))  # the default sandbox: a fresh module, unpatched
    assert seen == ["passthrough"]
