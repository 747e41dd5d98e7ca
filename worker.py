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
from temporalio.runtime import Runtime
from temporalio.worker import Worker

import telemetry
from payload_codec import data_converter
from settings import get_settings

log = logging.getLogger("relayflow.worker")


def workflows() -> list[type]:
    from workflows.engine.workflow import TemplateWorkflow

    return [TemplateWorkflow]


def interceptors() -> list[Any]:
    from workflows.engine.attempts import AttemptInterceptor

    return [AttemptInterceptor()]


def activities() -> list[Callable[..., Any]]:
    from activities.registry import all_activities

    return all_activities()


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
    client = await connect(telemetry.worker_runtime(s))
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
        graceful_shutdown_timeout=timedelta(seconds=10),
    ):
        log.info("worker polling task queue %r on %s", s.task_queue, s.temporal_address)
        await stop.wait()
        log.info("shutting down: letting running activities finish")


if __name__ == "__main__":
    asyncio.run(main())
