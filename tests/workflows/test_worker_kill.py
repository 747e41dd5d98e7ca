"""Durability: SIGKILL the worker mid-run, restart it; every run completes and no action
that had completed before the kill is executed again (receiver counts per Idempotency-Key)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from tests.helpers.http_receiver import HttpReceiver, Reply
from tests.workflows.interp_support import plan
from workflows.engine.io import RunInput
from workflows.engine.workflow import TemplateWorkflow

ROOT = Path(__file__).resolve().parents[2]
STEPS = 6


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    """Answers every action after 0.25 s, so a kill lands while calls are in flight."""
    with HttpReceiver(default=Reply(body={"ok": True}, delay=0.25)) as r:
        yield r


def start_worker(env: WorkflowEnvironment, task_queue: str) -> subprocess.Popen[bytes]:
    envvars = {
        **os.environ,
        "TEMPORAL_ADDRESS": env.client.service_client.config.target_host,
        "TEMPORAL_NAMESPACE": env.client.namespace,
        "TASK_QUEUE": task_queue,
    }
    return subprocess.Popen(
        [sys.executable, "worker.py"],
        cwd=ROOT,
        env=envvars,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def test_worker_killed_mid_flight(
    env: WorkflowEnvironment, client: Client, receiver: HttpReceiver
) -> None:
    tq = f"kill-{uuid.uuid4()}"
    steps = [
        {
            "id": f"s{i}",
            "action": "http",
            "timeout": "2s",
            "retry": {"initial_interval": "200ms"},
            "with": {"method": "POST", "url": f"{receiver.url}/hook", "json": {"i": i}},
            **({"depends_on": [f"s{i - 1}"]} if i else {}),
        }
        for i in range(STEPS)
    ]
    p = plan({"steps": steps})
    proc = start_worker(env, tq)
    try:
        handles = [
            await client.start_workflow(
                TemplateWorkflow.run,
                RunInput(plan=p),
                id=f"kill-{uuid.uuid4()}",
                task_queue=tq,
                # a task held by the killed worker times out sooner
                task_timeout=timedelta(seconds=2),
            )
            for _ in range(4)
        ]
        for _ in range(200):  # until the runs are part-way through
            if len(receiver.requests) >= 8:
                break
            await asyncio.sleep(0.05)
        completed: set[str] = set()
        for h in handles:
            st = await h.query(TemplateWorkflow.status)
            completed |= {f"{h.id}/{k}" for k, s in st.steps.items() if s.state == "succeeded"}
        proc.kill()
        proc.wait()
        assert completed, "the kill came too late: nothing had completed"
        proc = start_worker(env, tq)
        for h in handles:
            await asyncio.wait_for(h.result(), 90)
    finally:
        proc.kill()
        proc.wait()
    for h in handles:
        for i in range(STEPS):
            assert receiver.idempotency_keys[f"{h.id}/s{i}"] >= 1
    counts = receiver.idempotency_keys
    for key in completed:
        assert counts[key] == 1, (key, counts[key])


async def test_worker_restart_while_paused_evicts_cleanly(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    """A graceful worker stop evicts cached runs (their tasks are cancelled by the SDK):
    nothing must be recorded, and a new worker replays and carries on."""
    from tests.workflows.interp_support import act, start, worker

    doc = {
        "steps": [
            {"id": "w", "wait": {"duration": "1s"}},
            {
                "id": "lp",
                "loop": {
                    "until": "iteration >= 2",
                    "max_iterations": 3,
                    "steps": [{"id": "w2", "wait": {"duration": "300ms"}}],
                },
            },
            act("after", "noop", depends_on=["w"]),
            act("cleanup", "noop", depends_on=["w", "lp"], run_if="all_done"),
        ]
    }
    tq = f"evict-{uuid.uuid4()}"
    async with worker(client, task_queue=tq) as w:
        h = await start(client, w, doc)
        await asyncio.sleep(0.5)
        await h.signal(TemplateWorkflow.pause)
        before = await h.query(TemplateWorkflow.status)
    async with worker(client, task_queue=tq):
        after = await h.query(TemplateWorkflow.status)
        assert after == before and after.state == "paused"
        await h.signal(TemplateWorkflow.resume)
        await h.result()
        st = await h.query(TemplateWorkflow.status)
    assert {k: v.state for k, v in st.steps.items()} == {
        "w": "succeeded",
        "lp": "succeeded",
        "after": "succeeded",
        "cleanup": "succeeded",
        "lp[0].w2": "succeeded",
        "lp[1].w2": "succeeded",
        "lp[2].w2": "succeeded",
    }
    assert "tasks remain" not in caplog.text and "Failed activation" not in caplog.text
