"""The workflow sandbox re-imports only the workflow module: the language, the kinds and
the engine are passed through, so a run neither re-registers kinds (rebuilding every
pydantic model of the language) nor re-executes engine modules."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from temporalio.client import Client

import workflows.language.kinds as kinds_module
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
