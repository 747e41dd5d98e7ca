"""The relayflow worker: the generic `TemplateWorkflow` plus every registered action activity.

Stateless: run as many as you like against the same Temporal cluster and task queue.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Worker

from settings import get_settings

log = logging.getLogger("relayflow.worker")


def workflows() -> list[type]:
    from workflows.interpreter import TemplateWorkflow

    return [TemplateWorkflow]


def interceptors() -> list[Any]:
    from workflows.attempts import AttemptInterceptor

    return [AttemptInterceptor()]


def failure_types() -> list[type[BaseException]]:
    """Errors that fail the run instead of retrying its workflow task forever.

    Narrow on purpose: only an exceeded expression budget (it fails its step; should
    one escape a step, retrying the task would hit the same budget again)."""
    from workflows.expression_errors import BudgetExceeded

    return [BudgetExceeded]


def configure_limits() -> None:
    """Install the expression budgets from the settings (workflow code cannot read them)."""
    from workflows import _cel_budget

    s = get_settings()
    _cel_budget.configure(
        max_value_bytes=s.expression_max_value_bytes, max_cpu_ms=s.expression_max_cpu_ms
    )


def activities() -> list[Callable[..., Any]]:
    from activities.registry import all_activities

    return all_activities()


async def connect() -> Client:
    s = get_settings()
    return await Client.connect(
        s.temporal_address,
        namespace=s.temporal_namespace,
        data_converter=pydantic_data_converter,
        tls=s.temporal_tls(),
    )


async def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    s = get_settings()
    configure_limits()
    client = await connect()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with Worker(
        client,
        task_queue=s.task_queue,
        workflows=workflows(),
        activities=activities(),
        interceptors=interceptors(),
        workflow_failure_exception_types=failure_types(),
        graceful_shutdown_timeout=timedelta(seconds=10),
    ):
        log.info("worker polling task queue %r on %s", s.task_queue, s.temporal_address)
        await stop.wait()
        log.info("shutting down: letting running activities finish")


if __name__ == "__main__":
    asyncio.run(main())
