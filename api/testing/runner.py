"""Running a template test: the real `TemplateWorkflow`, on the test task queue (SPEC §13).

The run input is prepared like a real run's (the pinned version, `input_schema`, the
input's shape, subflows), plus the `TestPlan`. It starts with no search attributes —
no TemplateName, StartedBy, RunTags, RunState — so it is not a run: `GET /runs`, the
inbox and analytics read only executions that carry `TemplateName`. Its id is
`test-<template>-<uuid>`; Temporal's execution timeout (`TEST_LIMIT`) ends it if it
cannot finish. The answer is the status document, the trace (query `test_trace`) and
the wall time.

Connections: a test pins the connections that exist now; a mocked step needs none,
and an `allow_real` step whose connection is gone fails as it would in a run.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import timedelta
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import Client, WorkflowFailureError
from temporalio.service import RPCError

from activities.directory import User
from activities.registry import action_models
from api.connection_schemas import pinned
from api.errors import Timeout
from api.services import connections, registry, run_checks, runs, starting
from api.testing import plan as plans
from api.testing.schemas import TemplateTestResult, TraceEntry
from settings import Settings
from workflows.engine.io import WORKFLOW_TYPE, RunInput
from workflows.kinds.action import connections as connection_names
from workflows.language.compiler import compile_template
from workflows.language.model import Template

#: a test run that has not finished by then is timed out by Temporal (and answered 504)
TEST_LIMIT = timedelta(seconds=60)
ID_PREFIX = "test-"


async def pin_existing(session: AsyncSession, template: Template) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for name in connection_names(template, action_models()):
        row = await connections.find(session, name)
        if row is not None:
            found[name] = pinned(row)
    return found


async def prepare(
    session: AsyncSession,
    settings: Settings,
    name: str,
    version: int | None,
    body: plans.TemplateTestRequest,
    user: User,
) -> RunInput:
    """The test run's input: 404 unknown template, 422 bad input or plan (nothing ran)."""
    row = await registry.get(session, name, version)
    parsed = registry.parsed(session, row)
    plan = plans.build(parsed, body, settings.task_queue)
    run_checks.check_shape(body.input, settings)
    await run_checks.check_schema(
        lambda: starting.check_input(parsed.input_schema, body.input), settings
    )
    subflows, pins = await starting.pin_subflows(session, parsed)
    run = RunInput(
        plan=compile_template(parsed, row.version),
        input=body.input,
        subflows=subflows,
        subflow_versions=pins,
        started_by=user.id,
        connections=await pin_existing(session, parsed),
        test=plan,
    )
    await run_checks.check_payload(run, settings)
    return run


async def execute(client: Client, queue: str, run: RunInput) -> TemplateTestResult:
    """Start the test run on `queue`, wait for its end, read its status and trace."""
    run_id = f"{ID_PREFIX}{run.plan.name}-{uuid.uuid4()}"
    began = time.monotonic()
    handle = await client.start_workflow(
        WORKFLOW_TYPE,
        run,
        id=run_id,
        task_queue=queue,
        execution_timeout=TEST_LIMIT,
        static_summary=f"template test of {run.plan.name}@{run.plan.version}",
    )
    try:
        async with asyncio.timeout(TEST_LIMIT.total_seconds() + 10):
            await handle.result()
    except WorkflowFailureError:
        pass  # a failed run is a result like any other
    except TimeoutError:
        try:
            await handle.terminate("template test did not finish in time")
        except RPCError:
            pass
        raise Timeout(
            f"the test run {run_id} did not finish within {TEST_LIMIT.total_seconds():g} s"
        ) from None
    duration_ms = int((time.monotonic() - began) * 1000)
    doc, _ = await runs.status(client, run_id)
    trace = await handle.query("test_trace", result_type=list[dict[str, Any]])
    return TemplateTestResult(
        run_id=run_id,
        template=run.plan.name,
        version=run.plan.version,
        state=doc.state,
        steps=doc.steps,
        output=doc.output,
        error=doc.error,
        trace=[TraceEntry.model_validate(t) for t in trace],
        duration_ms=duration_ms,
    )
