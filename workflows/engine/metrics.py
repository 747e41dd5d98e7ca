"""Prometheus series emitted by the workflow itself (SPEC §10), replay-safe.

Every function here records through `workflow.metric_meter()`: the SDK drops the
recording while a workflow task is being replayed, so a worker restart, a cache
eviction or a `Replayer` run counts nothing twice, and no history event is
written. The worker's SDK runtime serves the series on `WORKER_METRICS_PORT`
(see `worker.py`), next to the SDK's own `temporal_*` metrics; the SDK adds the
labels `namespace`, `task_queue` and `workflow_type` to each series.

The engine calls these through one-line hooks (run start/close in the workflow,
step ends in `Runtime.set_state`, approval decisions, SLA levels). Timed-out and
terminated runs end outside the workflow code: the analytics store counts them,
these series cannot.

Step labels: the step's address with foreach/loop indexes removed
(`review[3].sign_off` → `review[].sign_off`), so a big foreach adds no series.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from temporalio import workflow

from workflows.engine.io import StepStatus
from workflows.language.compiler import CompiledTemplate

if TYPE_CHECKING:
    from workflows.engine.approvals.task import ApprovalTask


class Run(Protocol):
    """What the series need of a run (the engine's `Runtime`)."""

    plan: CompiledTemplate
    generation: int
    started_at: datetime
    closed_state: str | None
    closed_at: datetime | None
    statuses: dict[str, StepStatus]
    kinds: dict[str, str]
    plugins: dict[str, Any]

RUNS_STARTED = "relayflow_runs_started_total"
RUNS_CLOSED = "relayflow_runs_closed_total"
RUN_DURATION = "relayflow_run_duration_seconds"
STEP_DURATION = "relayflow_step_duration_seconds"
APPROVAL_TURNAROUND = "relayflow_approval_turnaround_seconds"
SLA_FIRED = "relayflow_sla_levels_fired_total"

#: the step label of run-level (template) SLA levels
RUN_LEVEL = "(run)"

#: histogram buckets in seconds, handed to the SDK runtime by `worker.py`
#: (runs and approvals wait for people: minutes to a week; steps: 50 ms to a day)
BUCKETS: dict[str, list[float]] = {
    RUN_DURATION: [1, 5, 15, 60, 300, 900, 3600, 14400, 43200, 86400, 259200, 604800],
    STEP_DURATION: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 14400, 86400],
    APPROVAL_TURNAROUND: [10, 60, 300, 900, 1800, 3600, 7200, 14400, 28800, 86400, 172800, 604800],
}

_INDEX = re.compile(r"\[\d+\]")


def step_label(address: str) -> str:
    """A step address without foreach/loop indexes (bounded label cardinality)."""
    return _INDEX.sub("[]", address) if "[" in address else address


def _instruments(rt: Run) -> dict[str, Any]:
    """The run's metric instruments, created once per workflow instance."""
    cache: dict[str, Any] | None = rt.plugins.get("metrics")
    if cache is None:
        meter = workflow.metric_meter()
        cache = {
            RUNS_STARTED: meter.create_counter(RUNS_STARTED, "Runs started (first execution)."),
            RUNS_CLOSED: meter.create_counter(RUNS_CLOSED, "Runs closed, by final state."),
            RUN_DURATION: meter.create_histogram_float(
                RUN_DURATION, "Run duration from start to close.", "s"
            ),
            STEP_DURATION: meter.create_histogram_float(
                STEP_DURATION, "Step duration from start to its final state (0 if never started).", "s"
            ),
            APPROVAL_TURNAROUND: meter.create_histogram_float(
                APPROVAL_TURNAROUND, "Approval turnaround from opening to decision.", "s"
            ),
            SLA_FIRED: meter.create_counter(SLA_FIRED, "SLA levels fired."),
        }
        rt.plugins["metrics"] = cache
    return cache


def run_started(rt: Run) -> None:
    """Count the run once: not again when it continues as new (generation > 0)."""
    if rt.generation == 0:
        _instruments(rt)[RUNS_STARTED].add(1, {"template": rt.plan.name})


def run_closed(rt: Run) -> None:
    """The run ends with `rt.closed_state` (completed, failed, cancelled)."""
    state = rt.closed_state or "completed"
    labels = {"template": rt.plan.name, "state": state}
    m = _instruments(rt)
    m[RUNS_CLOSED].add(1, labels)
    seconds = ((rt.closed_at or workflow.now()) - rt.started_at).total_seconds()
    m[RUN_DURATION].record(max(seconds, 0.0), labels)


def step_finished(rt: Run, address: str, state: str) -> None:
    """A step reached a final state (called once per step, from `Runtime.set_state`)."""
    st = rt.statuses[address]
    seconds = 0.0
    if st.started_at is not None and st.finished_at is not None:
        seconds = max((st.finished_at - st.started_at).total_seconds(), 0.0)
    labels = {
        "template": rt.plan.name,
        "step": step_label(address),
        "kind": rt.kinds.get(address, "unknown"),
        "state": state,
    }
    _instruments(rt)[STEP_DURATION].record(seconds, labels)


def approval_decided(rt: Run, task: ApprovalTask) -> None:
    """An approval task ended with an outcome (quorum, SLA `decide` or `on_timeout`)."""
    if task.decision is None:
        return
    decided = task.decided_at or workflow.now()
    seconds = max((decided - task.opened_at).total_seconds(), 0.0)
    labels = {"template": rt.plan.name, "step": step_label(task.step), "outcome": task.decision}
    _instruments(rt)[APPROVAL_TURNAROUND].record(seconds, labels)


def sla_fired(rt: Run, key: str, level: str) -> None:
    """An SLA level fired; `key` is the step address ("" for the template's own levels)."""
    labels = {"template": rt.plan.name, "step": step_label(key) if key else RUN_LEVEL, "level": level}
    _instruments(rt)[SLA_FIRED].add(1, labels)
