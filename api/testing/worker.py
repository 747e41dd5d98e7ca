"""The API's in-process worker for template and action tests (SPEC §13).

Test runs are real `TemplateWorkflow` executions on their own task queue,
`<TASK_QUEUE>-tests`; action tests are `ActionTest` executions there too. The API polls
that queue itself (started at the first test request, stopped with the API), so
testing needs no extra process and the workers of real runs never see a test run.
It hosts the workflows and, of the activities, only `resolve_assignees` (approvals
open with their real assignees); a test run's actions are mocked in the workflow, and
the calls that do run for real (`allow_real`, action tests) go to the real workers'
queue, `TASK_QUEUE`, where the secrets are. The sandbox, interceptors and failure
types are those of `worker.py`.

Every API replica runs one: any of them may pick up a test run another started.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta

from fastapi import FastAPI
from temporalio.client import Client
from temporalio.worker import Worker

from settings import Settings

log = logging.getLogger("relayflow.api")

SUFFIX = "-tests"


def task_queue_for_tests(settings: Settings) -> str:
    """The task queue of test runs and action tests."""
    return f"{settings.task_queue}{SUFFIX}"


class TestWorker:
    """Starts the worker once, on demand; `stop` shuts it down with the API."""

    __test__ = False  # not a pytest test class

    def __init__(self) -> None:
        self._lock = asyncio.Lock()
        self._worker: Worker | None = None
        self._task: asyncio.Task[None] | None = None

    async def ensure(self, client: Client, settings: Settings) -> str:
        """The test task queue, with this process polling it."""
        queue = task_queue_for_tests(settings)
        async with self._lock:
            if self._task is None or self._task.done():
                self._worker = _new_worker(client, queue)
                self._task = asyncio.create_task(self._worker.run(), name="test-worker")
                log.info("template tests: polling task queue %r", queue)
        return queue

    async def stop(self) -> None:
        if self._worker is None or self._task is None:
            return
        if not self._task.done():
            await self._worker.shutdown()
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await self._task
        self._worker = self._task = None


def _new_worker(client: Client, queue: str) -> Worker:
    import worker as relayflow_worker
    from activities.assignees import resolve_assignees
    from workflows.engine.try_action import ActionTestWorkflow
    from workflows.engine.workflow import TemplateWorkflow

    return Worker(
        client,
        task_queue=queue,
        workflows=[TemplateWorkflow, ActionTestWorkflow],
        activities=[resolve_assignees],
        graceful_shutdown_timeout=timedelta(seconds=5),
        **relayflow_worker.worker_options(),
    )


def of(app: FastAPI) -> TestWorker:
    """The app's test worker (created on first use)."""
    found: TestWorker | None = getattr(app.state, "test_worker", None)
    if found is None:
        found = app.state.test_worker = TestWorker()
    return found


async def stop(app: FastAPI) -> None:
    found: TestWorker | None = getattr(app.state, "test_worker", None)
    if found is not None:
        await found.stop()
