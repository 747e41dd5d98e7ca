"""Worker /metrics (SPEC §10): exact relayflow_* counters after a mix of runs, and nothing
counted twice when a worker restarts mid-run or a history is replayed.

Each test worker gets its own SDK runtime (= its own Prometheus endpoint), like a worker
process would; series are compared without the labels the SDK adds.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.client import Client, WorkflowFailureError, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from tests.analytics.support import MetricsWorkerClient, matching, scrape, value
from tests.helpers.temporal import new_worker
from tests.workflows.approval_support import decide, wait_for, waiting
from tests.workflows.interp_support import plan
from workflows.engine.bodies import KEEP
from workflows.engine.io import RunInput
from workflows.engine.workflow import TemplateWorkflow

HISTORIES = Path(__file__).resolve().parents[1] / "histories"


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def _ok(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "steps": [
            {"id": "a", "action": "log", "with": {"message": "a"}},
            {"id": "b", "depends_on": ["a"], "action": "log", "with": {"message": "b"}},
        ],
    }


def _fail(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "steps": [
            {"id": "a", "action": "log", "with": {"message": "a"}},
            {"id": "boom", "depends_on": ["a"], "fail": {"message": "no budget"}},
            {"id": "c", "depends_on": ["boom"], "action": "log", "with": {"message": "c"}},
        ],
    }


def _approval(name: str, sla: bool = True) -> dict[str, Any]:
    step: dict[str, Any] = {"id": "approve", "approval": {"assignees": {"users": ["ann"]}}}
    if sla:
        step["sla"] = [{"after": "1s", "level": "remind"}]
    return {
        "name": name,
        "steps": [
            step,
            {"id": "done", "depends_on": ["approve"], "action": "log", "with": {"message": "d"}},
        ],
    }


async def _start(client: Client, doc: dict[str, Any], task_queue: str) -> Any:
    return await client.start_workflow(
        TemplateWorkflow.run,
        RunInput(plan=plan(doc)),
        id=f"{doc['name']}-{uuid.uuid4().hex[:8]}",
        task_queue=task_queue,
    )


@pytest.mark.usefixtures("directory")
async def test_counters_after_a_mix_of_runs(client: Client) -> None:
    mc = MetricsWorkerClient()
    mclient = await mc.connect(client)
    ok, bad, appr = _name("m-ok"), _name("m-fail"), _name("m-appr")
    async with new_worker(mclient) as w:
        for _ in range(2):
            await (await _start(mclient, _ok(ok), w.task_queue)).result()
        with pytest.raises(WorkflowFailureError):
            await (await _start(mclient, _fail(bad), w.task_queue)).result()
        h = await _start(mclient, _approval(appr), w.task_queue)
        await waiting(h, "approve")
        await wait_for(h, lambda st: st.steps["approve"].sla_level == "remind")
        await decide(h, "approve", "approved", "ann", comment="fine")
        await h.result()
    m = scrape(mc.url)

    assert value(m, "relayflow_runs_started_total", template=ok) == 2
    assert value(m, "relayflow_runs_started_total", template=bad) == 1
    assert value(m, "relayflow_runs_closed_total", template=ok, state="completed") == 2
    assert value(m, "relayflow_runs_closed_total", template=bad, state="failed") == 1
    assert value(m, "relayflow_runs_closed_total", template=appr, state="completed") == 1
    assert value(m, "relayflow_run_duration_seconds_count", template=ok, state="completed") == 2
    step = "relayflow_step_duration_seconds_count"
    assert value(m, step, template=ok, step="a", kind="action", state="succeeded") == 2
    assert value(m, step, template=ok, step="b", kind="action", state="succeeded") == 2
    assert value(m, step, template=bad, step="boom", kind="fail", state="failed") == 1
    assert value(m, step, template=bad, step="c", kind="action", state="skipped") == 1
    assert value(m, step, template=appr, step="approve", kind="approval", state="succeeded") == 1
    turnaround = dict(template=appr, step="approve", outcome="approved")
    assert value(m, "relayflow_approval_turnaround_seconds_count", **turnaround) == 1
    assert value(m, "relayflow_approval_turnaround_seconds_sum", **turnaround) >= 1.0
    assert (
        value(m, "relayflow_sla_levels_fired_total", template=appr, step="approve", level="remind")
        == 1
    )
    # log ran: 2 x (a, b) + a of the failed run + done of the approval run
    assert value(m, "relayflow_action_calls_total", action="log", outcome="succeeded") == 6
    assert value(m, "relayflow_action_duration_seconds_count", action="log") == 6
    # buckets are ours (workflows.engine.metrics.BUCKETS), not the SDK defaults
    buckets = matching(m, "relayflow_run_duration_seconds_bucket", template=ok)
    assert {dict(k)["le"] for k in buckets} >= {"1", "604800", "+Inf"}
    # and the SDK's own series are on the same endpoint
    assert "temporal_workflow_completed" in httpx.get(mc.url).text

    # replaying the finished histories on the same runtime counts nothing
    replayer = Replayer(
        workflows=[TemplateWorkflow], data_converter=pydantic_data_converter, runtime=mc.runtime
    )
    async for wf in mclient.list_workflows(f"WorkflowId STARTS_WITH '{ok}'"):
        history = await mclient.get_workflow_handle(wf.id).fetch_history()
        result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
        assert result.replay_failure is None
    await replayer.replay_workflow(await h.fetch_history())
    assert scrape(mc.url) == m


async def test_replaying_recorded_histories_counts_nothing() -> None:
    mc = MetricsWorkerClient()
    replayer = Replayer(
        workflows=[TemplateWorkflow], data_converter=pydantic_data_converter, runtime=mc.runtime
    )
    paths = sorted(HISTORIES.glob("template_*.json"))
    assert paths
    for path in paths:
        history = WorkflowHistory.from_json("rec-" + path.stem, path.read_text())
        result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
        assert result.replay_failure is None, (path.name, result.replay_failure)
    assert scrape(mc.url) == {}


@pytest.mark.usefixtures("directory")
async def test_worker_restart_mid_run_counts_each_step_once(
    client: Client,
) -> None:
    """Worker A runs the run up to the approval and stops; worker B (a new process: its own
    runtime, an empty cache, so it replays A's part of the history) finishes it."""
    name = _name("m-restart")
    a, b = MetricsWorkerClient(), MetricsWorkerClient()
    ca, cb = await a.connect(client), await b.connect(client)
    task_queue = f"tq-{uuid.uuid4()}"
    doc = _approval(name, sla=False)
    doc["steps"].insert(0, {"id": "first", "action": "log", "with": {"message": "1"}})
    doc["steps"][1]["depends_on"] = ["first"]
    async with new_worker(ca, task_queue=task_queue):
        h = await _start(ca, doc, task_queue)
        await waiting(h, "approve")
    async with new_worker(cb, task_queue=task_queue):
        hb = cb.get_workflow_handle(h.id)
        await decide(hb, "approve", "rejected", "ann")
        await hb.result()
    ma, mb = scrape(a.url), scrape(b.url)

    def both(metric: str, **labels: str) -> tuple[float, float]:
        return value(ma, metric, **labels), value(mb, metric, **labels)

    step = "relayflow_step_duration_seconds_count"
    assert both("relayflow_runs_started_total", template=name) == (1, 0)
    assert both(step, template=name, step="first", kind="action", state="succeeded") == (1, 0)
    assert both(step, template=name, step="approve", kind="approval", state="succeeded") == (0, 1)
    assert both(step, template=name, step="done", kind="action", state="succeeded") == (0, 1)
    assert both("relayflow_runs_closed_total", template=name, state="completed") == (0, 1)
    assert both("relayflow_action_calls_total", action="log", outcome="succeeded") == (1, 1)
    outcome = dict(template=name, step="approve", outcome="rejected")
    assert both("relayflow_approval_turnaround_seconds_count", **outcome) == (0, 1)


async def test_continue_as_new_counts_the_run_once(client: Client) -> None:
    """A loop that continues as new: one run started/closed, every iteration's step once;
    the analytics record of it (history chain + replay of the last execution) has them all."""
    from api.analytics import record
    from api.analytics.history import fetch_chain, read_facts
    from api.analytics.replay import Snapshot, snapshots

    name, n = _name("m-can"), 30
    assert n > KEEP
    doc = {
        "name": name,
        "steps": [
            {
                "id": "lp",
                "loop": {
                    "until": f"iteration + 1 >= {n}",
                    "max_iterations": n,
                    "steps": [{"id": "tick", "action": "log", "with": {"message": "t"}}],
                },
            }
        ],
    }
    mc = MetricsWorkerClient()
    mclient = await mc.connect(client)
    async with new_worker(mclient) as w:
        h = await mclient.start_workflow(
            TemplateWorkflow.run,
            RunInput(plan=plan(doc), carry={"options": {"history_limit": 60}}),
            id=f"{name}-{uuid.uuid4().hex[:8]}",
            task_queue=w.task_queue,
        )
        await h.result()
    m = scrape(mc.url)
    step = "relayflow_step_duration_seconds_count"
    assert value(m, "relayflow_runs_started_total", template=name) == 1
    assert value(m, "relayflow_runs_closed_total", template=name, state="completed") == 1
    assert value(m, step, template=name, step="lp[].tick", kind="action", state="succeeded") == n
    assert value(m, step, template=name, step="lp", kind="loop", state="succeeded") == 1

    chain = await fetch_chain(client, h.id)
    assert len(chain) > 1
    facts = await read_facts(h.id, chain, client.data_converter)
    snap = (await snapshots(chain[-1:], client.data_converter))[h.id]
    assert isinstance(snap, Snapshot)
    assert facts.started_at == chain[0].events[0].event_time.ToDatetime(tzinfo=facts.started_at.tzinfo)
    rec = record.build(facts, snap, "completed", facts.closed_at or facts.started_at)
    # the status document lists the last KEEP iterations' steps and counts the pruned ones
    # (workflows.engine.bodies); the analytics rows follow it, the metrics above count all
    ticks = [s for s in rec.steps if s.step == "lp[].tick"]
    assert len(ticks) == KEEP and all(s.state == "succeeded" for s in ticks)
    body = snap.status.steps["lp"].body
    assert body is not None and body.counts == {"succeeded": n} and body.pruned == n - KEEP
    assert rec.run.started_at == facts.started_at and rec.run.template == name
