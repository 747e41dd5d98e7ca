"""Determinism: every recorded history in tests/histories replays on the current code.

Re-record with `python -m tests.histories.record` (step kinds) and
`python -m tests.histories.record_templates` (built-in templates)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

import worker as relayflow_worker
from workflows.engine.workflow import TemplateWorkflow

HISTORIES = sorted((Path(__file__).resolve().parents[1] / "histories").glob("*.json"))


def test_histories_exist() -> None:
    names = {p.stem for p in HISTORIES}
    for kind in (
        "action_parallel",
        "gate_set_fail",
        "wait_timer",
        "foreach",
        "loop",
        "subflow",
        "continue_as_new",
        "continue_as_new_last",
        "failure_cleanup",
        # recovery (SPEC §9): a redriven execution, held steps resolved, a run deadline
        "redrive",
        "held",
        "deadline",
    ):
        assert kind in names


def test_every_builtin_template_has_a_history() -> None:
    templates = Path(__file__).resolve().parents[2] / "templates"
    names = {p.stem for p in HISTORIES}
    for t in templates.glob("*.yaml"):
        assert f"template_{t.stem}" in names, (
            f"record it: python -m tests.histories.record_templates {t.stem}"
        )


#: Temporal's default sandbox (the workflow module re-imported per run) and relayflow's
#: workers' (`worker.workflow_runner`: the whole `workflows` package passed through)
RUNNERS = {"default": None, "worker": relayflow_worker.workflow_runner}


@pytest.mark.parametrize("runner", sorted(RUNNERS))
@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_replay(path: Path, runner: str) -> None:
    # recorded with workflow id `rec-<scenario>` (child ids derive from it)
    workflow_id = "rec-" + path.stem.removesuffix("_last")
    history = WorkflowHistory.from_json(workflow_id, path.read_text())
    make = RUNNERS[runner]
    options: dict[str, Any] = {"workflow_runner": make()} if make is not None else {}
    replayer = Replayer(
        workflows=[TemplateWorkflow], data_converter=pydantic_data_converter, **options
    )
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, result.replay_failure
