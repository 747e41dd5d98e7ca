"""Prometheus series of action calls (SPEC §10), recorded by the action wrapper.

`relayflow_action_calls_total{action,outcome}` and
`relayflow_action_duration_seconds{action}` go through `activity.metric_meter()`, so
they land on the worker's one metrics endpoint (the SDK runtime's, see `worker.py`)
next to the workflow series and the SDK's `temporal_*` ones; the SDK adds
`namespace`, `task_queue` and `activity_type` labels.

Outcomes: `succeeded`, `retryable_error` (Temporal tries again if the step's retry
policy allows), `non_retryable_error`, `cancelled`. One call = one attempt.
"""

from __future__ import annotations

import logging
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from opentelemetry import trace
from temporalio import activity

log = logging.getLogger("relayflow.actions")

ACTION_CALLS = "relayflow_action_calls_total"
ACTION_DURATION = "relayflow_action_duration_seconds"

#: seconds: fast HTTP calls up to slow e-mail servers and long custom actions
BUCKETS: dict[str, list[float]] = {
    ACTION_DURATION: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
}


def record(action: str, outcome: str, seconds: float) -> None:
    """Count one attempt of `action` and its duration (never fails the action)."""
    try:
        meter = activity.metric_meter()
        meter.create_counter(ACTION_CALLS, "Action attempts, by outcome.").add(
            1, {"action": action, "outcome": outcome}
        )
        meter.create_histogram_float(ACTION_DURATION, "Action attempt duration.", "s").record(
            max(seconds, 0.0), {"action": action}
        )
    except Exception:  # metrics must never break an action
        log.debug("could not record metrics for action %s", action, exc_info=True)


#: a proxy: it follows a tracer provider configured later (opentelemetry's usual pattern)
_TRACER = trace.get_tracer("relayflow.actions")


def step_span(action: str, run_id: str, step: str) -> AbstractContextManager[Any]:
    """An OpenTelemetry span named after the step; nothing at all while no tracer provider
    is configured (a no-op span still cost ~10 % of a trivial action's worker CPU)."""
    if isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
        return nullcontext()
    return _TRACER.start_as_current_span(
        f"step {step}",
        attributes={"relayflow.run_id": run_id, "relayflow.step": step, "relayflow.action": action},
    )
