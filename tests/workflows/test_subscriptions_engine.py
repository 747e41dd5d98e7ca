"""Event subscriptions in the engine (SPEC §14): what a matching run pays in history, and
pinned subscriptions carried across continue-as-new and into subflow children."""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from temporalio.client import Client, WorkflowFailureError
from temporalio.worker import Worker

from activities.subscriptions import deliver, give_up, hand_over
from settings import get_settings
from tests.helpers.http_receiver import HttpReceiver, Reply, Request
from tests.workflows.interp_support import TEST_ACTIVITIES, act, plan, worker
from workflows.engine.deliveries import SubscriptionDeliveries
from workflows.engine.io import PinnedSubscription, RunInput
from workflows.engine.workflow import TemplateWorkflow

LINEAR = {"name": "linear", "steps": [act("a"), act("b", depends_on=["a"])]}


@pytest.fixture
def no_delivery_log(tmp_path: Path) -> Iterator[None]:
    previous = os.environ.get("DATABASE_URL")
    os.environ["DATABASE_URL"] = f"sqlite:///{tmp_path / 'absent.db'}"
    get_settings.cache_clear()
    yield
    if previous is None:
        os.environ.pop("DATABASE_URL", None)
    else:
        os.environ["DATABASE_URL"] = previous
    get_settings.cache_clear()


def _worker(client: Client) -> Worker:
    return worker(
        client,
        workflows=[TemplateWorkflow, SubscriptionDeliveries],
        activities=[*TEST_ACTIVITIES, hand_over, deliver, give_up],
    )


async def _wait(rx: HttpReceiver, n: int, within: float = 10.0) -> list[Request]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while len(rx.requests) < n and loop.time() < deadline:
        await asyncio.sleep(0.05)
    return rx.requests


async def _types(client: Client, run_id: str) -> Counter[str]:
    history = await client.get_workflow_handle(run_id).fetch_history()
    return Counter(e.WhichOneof("attributes") or "" for e in history.events)


def _sub(url: str, *events: str, template: str | None = None) -> PinnedSubscription:
    return PinnedSubscription(
        id=f"s-{uuid.uuid4().hex[:6]}", events=list(events), template=template, target={"url": url}
    )


async def test_a_matching_run_pays_one_marker_per_hand_over_and_others_nothing(
    client: Client, no_delivery_log: None
) -> None:
    with HttpReceiver(Reply(200, {"ok": True})) as rx:
        url = f"{rx.url}/e"
        async with _worker(client) as w:
            runs = {}
            for label, subs in (
                ("none", []),
                ("unrelated", [_sub(url, "run.completed", template="other")]),
                ("matching", [_sub(url, "run.started", "run.completed")]),
            ):
                run_id = f"cost-{label}-{uuid.uuid4()}"
                await client.execute_workflow(
                    TemplateWorkflow.run,
                    RunInput(plan=plan(LINEAR), subscriptions=subs),
                    id=run_id,
                    task_queue=w.task_queue,
                )
                runs[label] = await _types(client, run_id)
            got = await _wait(rx, 2)
    assert runs["unrelated"] == runs["none"]
    assert runs["matching"] - runs["none"] == Counter({"marker_recorded_event_attributes": 2})
    assert runs["none"] - runs["matching"] == Counter()
    assert [json.loads(q.body)["type"] for q in got] == ["run.started", "run.completed"]


async def test_continue_as_new_and_subflow_children_keep_the_subscriptions(
    client: Client, no_delivery_log: None
) -> None:
    n = 30
    long_run = {
        "name": "long",
        "steps": [
            {
                "id": "lp",
                "loop": {
                    "until": f"iteration + 1 >= {n}",
                    "max_iterations": n,
                    "steps": [act("tick")],
                },
            },
            {"id": "child", "depends_on": ["lp"], "subflow": {"template": "kid", "version": 1}},
        ],
    }
    kid = plan({"name": "kid", "steps": [act("k")]})
    with HttpReceiver(Reply(200, {"ok": True})) as rx:
        url = f"{rx.url}/e"
        subs = [
            _sub(url, "run.started", "run.completed", template="long"),
            _sub(url, "run.completed", template="kid"),
        ]
        run_id = f"can-{uuid.uuid4()}"
        async with _worker(client) as w:
            await client.execute_workflow(
                TemplateWorkflow.run,
                RunInput(
                    plan=plan(long_run),
                    subflows={"kid@1": kid},
                    subscriptions=subs,
                    carry={"options": {"history_limit": 60}},
                ),
                id=run_id,
                task_queue=w.task_queue,
            )
            got = await _wait(rx, 3)
            executions = [e async for e in client.list_workflows(f"WorkflowId = '{run_id}'")]
    assert len(executions) > 1  # it did continue as new
    bodies = [json.loads(q.body) for q in got]
    assert [(b["run_id"], b["type"]) for b in bodies if b["run_id"] == run_id] == [
        (run_id, "run.started"),
        (run_id, "run.completed"),
    ]
    [child] = [b for b in bodies if b["run_id"] != run_id]
    assert (child["template"], child["type"]) == ("kid", "run.completed")
    assert child["run_id"].startswith(run_id)


async def test_a_slack_target_gets_a_summary_line(client: Client, no_delivery_log: None) -> None:
    failing = {"name": "doomed", "steps": [{"id": "boom", "fail": {"message": "out of budget"}}]}
    with HttpReceiver(Reply(200, "ok")) as rx:
        sub = PinnedSubscription(
            id="ops-chat",
            events=["run.failed"],
            target={"action": "slack", "with": {"url": f"{rx.url}/slack", "text": ":fire:"}},
        )
        run_id = f"slack-{uuid.uuid4()}"
        async with _worker(client) as w:
            with pytest.raises(WorkflowFailureError):
                await client.execute_workflow(
                    TemplateWorkflow.run,
                    RunInput(plan=plan(failing), subscriptions=[sub]),
                    id=run_id,
                    task_queue=w.task_queue,
                )
            [got] = await _wait(rx, 1)
    text = got.json["text"]
    assert text.startswith(":fire:\nrun.failed: run " + run_id + " (doomed@1), step boom")
    assert "out of budget" in text
    assert got.idempotency_key is not None
