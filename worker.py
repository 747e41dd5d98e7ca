"""The relayflow worker: the generic `TemplateWorkflow` plus every registered action activity.

Stateless: run as many as you like against the same Temporal cluster and task queue.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from temporalio.client import Client
from temporalio.runtime import Runtime
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

import telemetry
from payload_codec import data_converter
from settings import get_settings

log = logging.getLogger("relayflow.worker")


def workflows() -> list[type]:
    from workflows.engine.deliveries import SubscriptionDeliveries
    from workflows.engine.workflow import TemplateWorkflow

    return [TemplateWorkflow, SubscriptionDeliveries]


def interceptors() -> list[Any]:
    from workflows.engine.attempts import AttemptInterceptor

    return [AttemptInterceptor()]


#: relayflow's own workflow code, all of it, is passed through the workflow sandbox: the
#: interpreter is fixed, deterministic code (no I/O, no settings, no mutable module
#: state; templates are data), so the sandbox's per-run re-import would only rebuild the
#: same modules. Passing the whole package means no run imports anything of ours, not
#: even the workflow module and its `workflow.defn` processing: 1.8 of 10.5 ms of worker
#: CPU per one-step run (docs/operations.md "The worker process"). The sandbox's
#: restrictions still hold for everything else, and a worker's failure types
#: (`failure_types`) are not loaded a second time.
PASSTHROUGH_MODULES = ("workflows",)


def workflow_runner() -> SandboxedWorkflowRunner:
    """The sandbox every relayflow worker runs `TemplateWorkflow` in."""
    restrictions = SandboxRestrictions.default.with_passthrough_modules(*PASSTHROUGH_MODULES)
    return SandboxedWorkflowRunner(restrictions=restrictions)


def worker_options() -> dict[str, Any]:
    """The `Worker` options every relayflow worker uses (`main`, the bench's workers)."""
    return {
        "interceptors": interceptors(),
        "workflow_failure_exception_types": failure_types(),
        "workflow_runner": workflow_runner(),
    }


def failure_types() -> list[type[BaseException]]:
    """Errors that fail the run instead of retrying its workflow task forever.

    Narrow on purpose: only an exceeded expression budget (it fails its step; should
    one escape a step, retrying the task would hit the same budget again)."""
    from workflows.language.expression_errors import BudgetExceeded

    return [BudgetExceeded]


def configure_limits() -> None:
    """Install the expression budgets from the settings (workflow code cannot read them)."""
    from workflows.language import cel_budget

    s = get_settings()
    cel_budget.configure(
        max_value_bytes=s.expression_max_value_bytes, max_cpu_ms=s.expression_max_cpu_ms
    )


def activities() -> list[Callable[..., Any]]:
    from activities.registry import all_activities

    return all_activities()


#: the collector's thresholds in a worker (Python's default is (700, 10, 10)): a run's
#: state lives across its workflow tasks, so at 700 the young generation is scanned,
#: and promoted, over and over; 10,000 cut the collector's share of a 20-step run from
#: ~2.7 ms to ~0.5 ms of CPU (docs/operations.md "The worker process")
GC_THRESHOLDS = (10_000, 10, 10)


def tune_gc() -> None:
    """Move what start-up built out of the collector's way (`gc.freeze`) and collect the
    young generation less often (`GC_THRESHOLDS`). Call once, after the imports."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


async def connect(runtime: Runtime | None = None) -> Client:
    """The worker's client; `runtime` carries the Prometheus endpoint (telemetry.py)."""
    s = get_settings()
    return await Client.connect(
        s.temporal_address,
        namespace=s.temporal_namespace,
        data_converter=data_converter(s),
        tls=s.temporal_tls(),
        interceptors=telemetry.tracing_interceptors(s),
        runtime=runtime,
    )


async def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    # httpx logs every request URL at INFO: a `slack.url` secret must not reach the logs
    logging.getLogger("httpx").setLevel(logging.WARNING)
    s = get_settings()
    configure_limits()
    client = await connect(telemetry.worker_runtime(s))
    classes, actions = workflows(), activities()
    tune_gc()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with Worker(
        client,
        task_queue=s.task_queue,
        workflows=classes,
        activities=actions,
        graceful_shutdown_timeout=timedelta(seconds=10),
        **worker_options(),
    ):
        log.info("worker polling task queue %r on %s", s.task_queue, s.temporal_address)
        await stop.wait()
        log.info("shutting down: letting running activities finish")


if __name__ == "__main__":
    asyncio.run(main())
