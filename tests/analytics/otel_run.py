"""Child process of test_tracing.py: one run with tracing on, exported over OTLP/HTTP.

argv: Temporal address, namespace. OTEL_EXPORTER_OTLP_ENDPOINT comes from the env.
A process of its own because OpenTelemetry's tracer provider is process-global.
"""

from __future__ import annotations

import asyncio
import sys
import uuid

from temporalio.worker import Worker

import telemetry
import worker as relayflow_worker
from settings import get_settings
from tests.workflows.interp_support import plan
from workflows.engine.io import RunInput
from workflows.engine.workflow import TemplateWorkflow


async def main(address: str, namespace: str) -> None:
    import os

    os.environ["TEMPORAL_ADDRESS"], os.environ["TEMPORAL_NAMESPACE"] = address, namespace
    os.environ["WORKER_METRICS_PORT"] = "0"
    get_settings.cache_clear()
    client = await relayflow_worker.connect()
    doc = {"name": "traced", "steps": [{"id": "hello", "action": "log", "with": {"message": "hi"}}]}
    tq = f"otel-{uuid.uuid4().hex[:8]}"
    async with Worker(
        client,
        task_queue=tq,
        workflows=relayflow_worker.workflows(),
        activities=relayflow_worker.activities(),
        interceptors=relayflow_worker.interceptors(),
    ):
        await client.execute_workflow(
            TemplateWorkflow.run, RunInput(plan=plan(doc)), id=f"otel-{uuid.uuid4()}", task_queue=tq
        )
    telemetry.tracer_provider(get_settings()).force_flush()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
