"""A worker restart while a delivery is being retried loses nothing, and a completed
delivery is not sent again (SPEC §14). The module runs its own workers (no `worker`
fixture) on the API's task queue, stopping and starting them mid-delivery."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.worker import Worker

from settings import Settings
from tests.api.conftest import auth, save, simple_template, unique
from tests.api.subscription_support import (
    arrived,
    deliverer_done,
    start,
    subscribe,
    unsubscribe,
    worker_env,
)
from tests.helpers.http_receiver import HttpReceiver, Reply
from tests.helpers.temporal import new_worker
from workflows.engine.deliveries import deliverer_id


@asynccontextmanager
async def running_worker(
    client: Client, settings: Settings, directory_file: Path
) -> AsyncIterator[Worker]:
    env = {"DIRECTORY_FILE": str(directory_file), "DATABASE_URL": settings.database_url}
    with worker_env({**env, "SUBSCRIPTION_RETRY_INITIAL": "1", "SUBSCRIPTION_RETRY_MAX": "1"}):
        async with new_worker(client, task_queue=settings.task_queue) as w:
            yield w


async def test_a_worker_restart_mid_retry_loses_nothing_and_sends_nothing_twice(
    api: httpx.AsyncClient, client: Client, settings: Settings, directory_file: Path
) -> None:
    name = unique("subs-restart")
    await save(api, simple_template(name))
    with HttpReceiver() as rx:
        url = rx.script("/hook", Reply(500), Reply(500), Reply(500), Reply(200, {"ok": True}))
        sub = unique("restart")
        await subscribe(
            api,
            {"id": sub, "events": ["run.completed"], "template": name, "target": {"url": url}},
        )
        async with running_worker(client, settings, directory_file):
            run_id = await start(api, name, who="x")
            await client.get_workflow_handle(run_id).result()
            assert len(await arrived(rx, "/hook", 1)) == 1  # the first attempt: 500
        # no worker now: the retry waits for one (nothing is lost meanwhile)
        async with running_worker(client, settings, directory_file):
            got = await arrived(rx, "/hook", 4, within=15)
            assert len(got) == 4, [q.header("X-Delivery-Id") for q in got]
            assert await deliverer_done(client, run_id)
        assert len({q.header("X-Delivery-Id") for q in got}) == 1
        assert json.loads(got[0].body)["run_id"] == run_id
        # another restart: the completed delivery is not sent again
        async with running_worker(client, settings, directory_file):
            desc = await client.get_workflow_handle(deliverer_id(run_id)).describe()
            assert desc.status == WorkflowExecutionStatus.COMPLETED
            await asyncio.sleep(0.5)  # a worker that re-sent would do it at once
        assert len(rx.at("/hook")) == 4
        log = (await api.get(f"/subscriptions/{sub}/deliveries", headers=auth("olga"))).json()
        assert [(d["status"], d["attempts"]) for d in log] == [("delivered", 4)]
        await unsubscribe(api, sub)
