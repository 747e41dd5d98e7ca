"""SLA escalation on the time-skipping server: reminder 4h, reassign 1d, auto-reject 2d."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowFailureError, WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from tests.helpers.http_receiver import HttpReceiver
from tests.helpers.temporal import decoded
from tests.workflows.approval_support import (
    approval,
    approval_worker,
    decide,
    directory,  # noqa: F401 - fixture
    receiver,  # noqa: F401 - fixture
    status,
    wait_for,
    waiting,
)
from tests.workflows.interp_support import start
from workflows.engine.search_attributes import ASSIGNEES
from workflows.engine.workflow import TemplateWorkflow

pytestmark = pytest.mark.usefixtures("directory")


def escalating(url: str) -> dict[str, Any]:
    """The issue's example: reminder at 4h, reassignment at 1d, auto-rejection at 2d."""
    return {
        "steps": [
            approval(
                "po",
                assignees={"roles": ["manager"]},
                sla=[
                    {
                        "after": "4h",
                        "level": "warning",
                        "notify": {
                            "action": "webhook",
                            "with": {
                                "url": f"{url}/warning",
                                "json": {"to": "${{ task.emails }}", "step": "${{ task.step }}"},
                            },
                        },
                    },
                    {
                        "after": "1d",
                        "level": "critical",
                        "reassign": {"roles": ["director"]},
                        "notify": {
                            "action": "webhook",
                            "with": {
                                "url": f"{url}/critical",
                                "json": {"to": "${{ task.assignees }}"},
                            },
                        },
                    },
                    {
                        "after": "2d",
                        "level": "expired",
                        "decide": "rejected",
                        "notify": {
                            "action": "webhook",
                            "with": {"url": f"{url}/expired", "json": {"run": "${{ run.id }}"}},
                        },
                    },
                ],
            )
        ]
    }


async def settled(h: WorkflowHandle[Any, Any]) -> None:
    """No activity in flight (so skipping time cannot time one out)."""
    for _ in range(200):
        desc = (await h.describe()).raw_description
        if not desc.pending_activities and not desc.HasField("pending_workflow_task"):
            return
        await asyncio.sleep(0.05)
    raise AssertionError("activities still pending")


async def hits(rec: HttpReceiver, path: str, n: int) -> None:
    for _ in range(200):
        if rec.hits[path] >= n:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{path}: {rec.hits[path]} hits, expected {n}")


async def skip(env: WorkflowEnvironment, h: WorkflowHandle[Any, Any], td: timedelta) -> None:
    await settled(h)
    await env.sleep(td)


async def test_reminder_reassign_auto_reject_exactly_once(
    ts_env: WorkflowEnvironment,
    receiver: HttpReceiver,  # noqa: F811
) -> None:
    client = ts_env.client
    async with approval_worker(client) as w:
        h = await start(client, w, escalating(receiver.url))
        st = await waiting(h, "po")
        assert st.pending[0].assignees == ["user:ann", "user:bob", "role:manager"]
        assert st.steps["po"].sla_level is None

        await skip(ts_env, h, timedelta(hours=4, minutes=1))
        await hits(receiver, "/warning", 1)
        st = await wait_for(h, lambda s: s.steps["po"].sla_level == "warning")
        assert receiver.at("/warning")[0].json == {
            "to": ["ann@example.com", "bob@example.com"],
            "step": "po",
        }
        assert [r.idempotency_key for r in receiver.at("/warning")] == [f"{h.id}/po/sla/warning"]

        await skip(ts_env, h, timedelta(hours=20))
        await hits(receiver, "/critical", 1)
        st = await wait_for(h, lambda s: s.steps["po"].sla_level == "critical")
        assert st.pending[0].assignees == ["user:dan", "role:director"]
        assert receiver.at("/critical")[0].json == {"to": ["dan"]}
        assert st.steps["po"].state == "waiting"

        await settled(h)
        await h.result()  # time skips to 2d: auto-rejection
        st = await status(h)
        po = st.steps["po"]
        assert po.state == "succeeded" and po.decision == "rejected"
        assert po.sla_level == "expired"
        assert po.output["decided_by"] == "sla:expired"
        assert po.output["reassignments"][0]["reason"] == "sla:critical"
        await hits(receiver, "/expired", 1)
    assert dict(receiver.hits) == {"/warning": 1, "/critical": 1, "/expired": 1}

    # visible in history: one timer per level (named), one notification activity per level
    events = [await decoded(client, e) async for e in h.fetch_history_events()]
    timers = [
        e.user_metadata.summary.data
        for e in events
        if e.event_type == EventType.EVENT_TYPE_TIMER_STARTED
    ]
    assert [b"SLA warning" in t for t in timers].count(True) == 1
    assert [b"SLA critical" in t for t in timers].count(True) == 1
    assert [b"SLA expired" in t for t in timers].count(True) == 1
    webhooks = [
        e
        for e in events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        and e.activity_task_scheduled_event_attributes.activity_type.name == "webhook"
    ]
    assert len(webhooks) == 3
    # and the history replays deterministically on today's code
    # (with the client's converter: encrypted histories need the same keys to replay)
    replayer = Replayer(workflows=[TemplateWorkflow], data_converter=client.data_converter)
    await replayer.replay_workflow(await h.fetch_history())


async def test_worker_restart_between_levels_fires_each_once(
    ts_env: WorkflowEnvironment,
    receiver: HttpReceiver,  # noqa: F811
) -> None:
    client = ts_env.client
    tq = f"tq-{uuid.uuid4()}"
    # no sticky cache: every workflow task replays the history from scratch, and no task
    # waits on a stopped worker's sticky queue (the test server has no sticky fallback)
    async with approval_worker(client, task_queue=tq, max_cached_workflows=0) as w:
        h = await start(client, w, escalating(receiver.url))
        await waiting(h, "po")
        await skip(ts_env, h, timedelta(hours=5))
        await hits(receiver, "/warning", 1)
        await settled(h)
    async with approval_worker(client, task_queue=tq, max_cached_workflows=0):
        await skip(ts_env, h, timedelta(hours=20))
        await hits(receiver, "/critical", 1)
        await wait_for(h, lambda s: s.steps["po"].sla_level == "critical")
        await settled(h)
    async with approval_worker(client, task_queue=tq, max_cached_workflows=0):
        await h.result()
        st = await status(h)
        assert st.steps["po"].decision == "rejected"
        await hits(receiver, "/expired", 1)
    assert dict(receiver.hits) == {"/warning": 1, "/critical": 1, "/expired": 1}


async def test_sla_stops_when_the_step_finishes_and_run_level_sla(
    ts_env: WorkflowEnvironment,
    receiver: HttpReceiver,  # noqa: F811
) -> None:
    client = ts_env.client

    def hook(path: str) -> dict[str, Any]:
        return {"action": "webhook", "with": {"url": f"{receiver.url}{path}", "json": {}}}

    d = {
        "sla": [{"after": "3h", "level": "slow", "notify": hook("/run-slow")}],
        "steps": [
            approval(
                "first",
                assignees={"users": ["ann"]},
                sla=[{"after": "4h", "level": "late", "notify": hook("/first-late")}],
            ),
            approval("second", assignees={"users": ["bob"]}, depends_on=["first"]),
        ],
    }
    async with approval_worker(client) as w:
        h = await start(client, w, d)
        await waiting(h, "first")
        await skip(ts_env, h, timedelta(hours=1))
        await decide(h, "first", "approved", "ann")
        await waiting(h, "second")
        await skip(ts_env, h, timedelta(hours=5))  # past 3h (run) and 4h (first: finished)
        await hits(receiver, "/run-slow", 1)
        st = await wait_for(h, lambda s: s.sla_level == "slow")
        assert st.steps["first"].sla_level is None
        await decide(h, "second", "approved", "bob")
        await h.result()
    assert dict(receiver.hits) == {"/run-slow": 1}


async def test_approval_timeout(ts_env: WorkflowEnvironment) -> None:
    client = ts_env.client
    d = {
        "steps": [
            approval("t", assignees={"users": ["ann"]}, timeout="2d", on_timeout="rejected"),
            approval(
                "f", assignees={"users": ["ann"]}, timeout="1h", depends_on=["t"], on_timeout="fail"
            ),
        ]
    }
    async with approval_worker(client) as w:
        h = await start(client, w, d)
        st = await waiting(h, "t")
        assert st.pending[0].due_at is not None
        with pytest.raises(WorkflowFailureError):
            await h.result()
        st = await status(h)
        assert st.steps["t"].state == "succeeded" and st.steps["t"].decision == "rejected"
        assert st.steps["t"].output["decided_by"] == "timeout"
        assert st.steps["f"].state == "failed"
        assert "timed out after 1h" in (st.steps["f"].error or "")


async def test_continue_as_new_carries_votes_fired_levels_and_due_times(
    ts_env: WorkflowEnvironment,
    receiver: HttpReceiver,  # noqa: F811
) -> None:
    client = ts_env.client
    notify = {"action": "webhook", "with": {"url": f"{receiver.url}/warning", "json": {}}}
    d = {
        "steps": [
            approval(
                "po",
                assignees={"users": ["ann", "bob"]},
                quorum=2,
                sla=[
                    {"after": "4h", "level": "warning", "notify": notify},
                    {
                        "after": "1d",
                        "level": "critical",
                        "notify": {**notify, "with": {"url": f"{receiver.url}/critical"}},
                    },
                ],
            ),
            {"id": "w", "wait": {"duration": "5h"}},
            {
                "id": "lp",
                "depends_on": ["w"],
                "loop": {
                    "until": "iteration + 1 >= 30",
                    "max_iterations": 30,
                    "steps": [{"id": "tick", "action": "echo"}],
                },
            },
        ]
    }
    async with approval_worker(client) as w:
        first = await start(client, w, d, carry={"options": {"history_limit": 60}})
        h = client.get_workflow_handle(first.id)  # follows the continue-as-new chain
        await waiting(h, "po")
        await decide(h, "po", "approved", "ann")
        await skip(ts_env, h, timedelta(hours=4, minutes=1))
        await hits(receiver, "/warning", 1)
        await skip(ts_env, h, timedelta(hours=1))  # the wait ends; the loop forces CAN
        st = await wait_for(h, lambda s: s.steps["lp"].state == "succeeded", timeout=30)
        desc = await h.describe()
        assert desc.run_id != first.run_id  # continued as new at least once
        po = st.steps["po"]
        assert po.state == "waiting" and po.sla_level == "warning"
        assert [v["actor"] for v in po.output["decisions"]] == ["ann"]
        assert st.pending[0].assignees == ["user:ann", "user:bob"]
        assert sorted(desc.typed_search_attributes.get(ASSIGNEES) or []) == [
            "user:ann",
            "user:bob",
        ]
        # the 1d level fires at 1d after the step started, once; the 4h one is not repeated
        await skip(ts_env, h, timedelta(hours=19))
        await hits(receiver, "/critical", 1)
        await wait_for(h, lambda s: s.steps["po"].sla_level == "critical")
        st2 = await decide(h, "po", "approved", "bob")
        assert st2.decision == "approved"  # ann's vote from before continue-as-new counted
        await h.result()
    assert dict(receiver.hits) == {"/warning": 1, "/critical": 1}


async def test_sla_on_a_non_approval_step_notifies_once(
    ts_env: WorkflowEnvironment,
    receiver: HttpReceiver,  # noqa: F811
) -> None:
    client = ts_env.client
    d = {
        "steps": [
            {
                "id": "slow",
                "wait": {"duration": "3h"},
                "sla": [
                    {
                        "after": "1h",
                        "level": "late",
                        "notify": {
                            "action": "webhook",
                            "with": {"url": f"{receiver.url}/late", "json": {"s": "${{ run.id }}"}},
                        },
                    },
                    {
                        "after": "5h",
                        "level": "never",
                        "notify": {"action": "webhook", "with": {"url": receiver.url}},
                    },
                ],
            }
        ]
    }
    async with approval_worker(client) as w:
        h = await start(client, w, d)
        await h.result()
        st = await status(h)
    assert st.steps["slow"].sla_level == "late" and st.steps["slow"].state == "succeeded"
    assert dict(receiver.hits) == {"/late": 1}
    assert [r.json for r in receiver.at("/late")] == [{"s": h.id}]
