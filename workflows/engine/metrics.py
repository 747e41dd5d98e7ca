"""Prometheus series emitted by the workflow itself (SPEC §10), replay-safe.

Every function here records through `workflow.metric_meter()`: the SDK drops the
recording while a workflow task is being replayed, so a worker restart, a cache
eviction or a `Replayer` run counts nothing twice, and no history event is
written. The worker's SDK runtime serves the series on `WORKER_METRICS_PORT`
(see `worker.py`), next to the SDK's own `temporal_*` metrics; the SDK adds the
labels `namespace`, `task_queue` and `workflow_type` to each series.

`install(rt)` adds a listener of the run's events (workflows.engine.events) that
records them. Timed-out and terminated runs end outside the workflow code: the
analytics store counts them, these series cannot.

Step labels: the step's address with foreach/loop indexes removed
(`review[3].sign_off` → `review[].sign_off`), so a big foreach adds no series.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Protocol

from temporalio import workflow

from workflows.engine import events
from workflows.engine.events import RunEvent
from workflows.language.compiler import CompiledTemplate


class Run(Protocol):
    """What the series need of a run (the engine's `Runtime`)."""

    plan: CompiledTemplate
    generation: int
    started_at: datetime
    closed_at: datetime | None
    listeners: list[events.Listener]


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


def _instruments() -> dict[str, Any]:
    """The metric instruments (created per workflow instance: the meter is the run's)."""
    meter = workflow.metric_meter()
    return {
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


def install(rt: Run) -> None:
    """Record the run's events as the `relayflow_*` series."""
    m: dict[str, Any] = {}
    template = rt.plan.name

    def record(e: RunEvent) -> None:
        if not m:
            m.update(_instruments())
        if e.type == events.RUN_STARTED and rt.generation == 0:
            m[RUNS_STARTED].add(1, {"template": template})
        elif e.type == events.RUN_CLOSED:
            labels = {"template": template, "state": e.data["state"]}
            m[RUNS_CLOSED].add(1, labels)
            seconds = ((rt.closed_at or workflow.now()) - rt.started_at).total_seconds()
            m[RUN_DURATION].record(max(seconds, 0.0), labels)
        elif e.type == events.STEP_FINISHED and e.step is not None:
            labels = {
                "template": template,
                "step": step_label(e.step),
                "kind": e.data["kind"],
                "state": e.data["state"],
            }
            m[STEP_DURATION].record(e.data["seconds"], labels)
        elif e.type == events.APPROVAL_DECIDED and e.step is not None:
            labels = {"template": template, "step": step_label(e.step), "outcome": e.data["outcome"]}
            m[APPROVAL_TURNAROUND].record(e.data["seconds"], labels)
        elif e.type == events.SLA_FIRED:
            step = step_label(e.step) if e.step else RUN_LEVEL
            m[SLA_FIRED].add(1, {"template": template, "step": step, "level": e.data["level"]})

    rt.listeners.append(record)
