"""Re-record the replay histories: `python -m tests.histories.record [name ...]`.

Runs every scenario below (one or more per step kind) on a fresh dev server with the
test actions of `tests/workflows/interp_support.py`, and writes
`tests/histories/<name>.json`. `tests/workflows/test_replay.py` replays them all
against the current `TemplateWorkflow`: a change that breaks replay of these
histories needs `workflow.patched` (or a deliberate re-record, with a note in
docs/interpreter.md, when no run of the old shape can still be open).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from temporalio.client import Client, WorkflowHandle
from temporalio.worker import Worker

from tests.workflows.interp_support import act, plan, start, worker
from tests.workflows.recovery_support import ACTIVITIES, BROKEN, redrive_run
from workflows.engine.io import ResolveInput
from workflows.engine.workflow import TemplateWorkflow

HERE = Path(__file__).resolve().parent


def _w(**kw: Any) -> dict[str, Any]:
    return {"with": kw}


CHILD = plan(
    {
        "name": "child",
        "steps": [act("c", **_w(v="${{ input.v }}"))],
        "outputs": {"got": "${{ steps.c.output.params.v }}"},
    }
)

SCENARIOS: dict[str, dict[str, Any]] = {
    "action_parallel": {
        "doc": {
            "steps": [
                act("a", **_w(x="${{ input.n }}")),
                act("b"),
                act("c", depends_on=["a", "b"], **_w(sum="${{ steps.a.output.params.x + 1 }}")),
                act(
                    "retry",
                    "flaky",
                    depends_on=["c"],
                    retry={"initial_interval": "100ms"},
                    **_w(fail_times=1),
                ),
                act("opt", "flaky", optional=True, **_w(fatal=True)),
                act("skipped", depends_on=["c"], when="input.n > 100"),
                act("join", depends_on=["skipped", "opt"], run_if="all_done"),
            ],
            "outputs": {"c": "${{ steps.c.output.params }}"},
        },
        "input": {"n": 1},
    },
    "failure_cleanup": {
        "doc": {
            "steps": [
                act("bad", "flaky", **_w(fatal=True, message="boom")),
                act("never", depends_on=["bad"]),
                act("cleanup", depends_on=["bad"], run_if="all_done"),
            ]
        }
    },
    "gate_set_fail": {
        "doc": {
            "steps": [
                {"id": "g", "gate": {"check": "input.n > 5", "on_fail": "continue"}},
                {"id": "s", "depends_on": ["g"], "set": {"doubled": "${{ input.n * 2 }}"}},
                {
                    "id": "f",
                    "depends_on": ["s"],
                    "when": "vars.doubled > 100",
                    "fail": {"message": "x"},
                },
                {
                    "id": "abort",
                    "depends_on": ["f"],
                    "run_if": "all_done",
                    "gate": {"check": "vars.doubled < 0", "on_fail": "abort"},
                },
            ]
        },
        "input": {"n": 2},
    },
    "wait_timer": {
        "doc": {
            "steps": [
                {"id": "w", "wait": {"duration": "1s"}},
                {"id": "u", "wait": {"until": "'2001-01-01T00:00:00Z'"}},
                act("after", depends_on=["w", "u"]),
            ]
        }
    },
    "foreach": {
        "doc": {
            "steps": [
                {
                    "id": "fe",
                    "foreach": {
                        "items": "input.xs",
                        "concurrency": 2,
                        "steps": [
                            act("e", **_w(x="${{ item }}")),
                            {"id": "s", "depends_on": ["e"], "set": {"last": "${{ index }}"}},
                        ],
                    },
                }
            ],
            "outputs": {"out": "${{ steps.fe.output }}"},
        },
        "input": {"xs": ["a", "b", "c"]},
    },
    "loop": {
        "doc": {
            "steps": [
                {
                    "id": "lp",
                    "loop": {
                        "until": "steps.e.output.params.i >= 2",
                        "max_iterations": 5,
                        "steps": [act("e", **_w(i="${{ iteration }}"))],
                    },
                }
            ]
        }
    },
    "subflow": {
        "doc": {
            "steps": [
                {"id": "sub", "subflow": {"template": "child", "input": {"v": "${{ input.v }}"}}}
            ]
        },
        "input": {"v": 3},
        "extra": {"subflows": {"child@1": CHILD}, "subflow_versions": {"child": 1}},
    },
    "continue_as_new": {
        "doc": {
            "steps": [
                {
                    "id": "lp",
                    "loop": {
                        "until": "iteration >= 9",
                        "max_iterations": 10,
                        "steps": [act("e", **_w(i="${{ iteration }}"))],
                    },
                }
            ]
        },
        "extra": {"carry": {"options": {"history_limit": 30}}},
    },
}


def _sw(id: str, name: str, **kw: Any) -> dict[str, Any]:
    return act(id, "switch", **_w(name=name), **kw)


async def _redriven(client: Client, w: Worker) -> WorkflowHandle[Any, Any]:
    """SPEC §9 redrive: a carried step, a foreach whose failed item runs again."""
    doc = {
        "steps": [
            _sw("s1", "ok"),
            {
                "id": "fe",
                "depends_on": ["s1"],
                "foreach": {
                    "items": "[0, 1, 2]",
                    "steps": [_sw("e", "${{ 'rec-item-' + string(item) }}")],
                },
            },
            _sw("after", "ok", depends_on=["fe"]),
            act("cleanup", depends_on=["fe"], run_if="all_done"),
        ]
    }
    BROKEN.add("rec-item-1")
    h = await start(client, w, doc, run_id="rec-redrive")
    await _settle(h)
    BROKEN.discard("rec-item-1")
    return await redrive_run(client, w, h.id)


async def _held(client: Client, w: Worker) -> WorkflowHandle[Any, Any]:
    """SPEC §9 incidents: one held step retried with patched arguments, one skipped."""
    doc = {
        "on_failure": "hold",
        "steps": [
            _sw("a", "rec-held-a"),
            _sw("b", "rec-held-b"),
            act("c", depends_on=["a", "b"], **_w(got="${{ steps.b.output }}")),
        ],
    }
    BROKEN.update({"rec-held-a", "rec-held-b"})
    h = await start(client, w, doc, run_id="rec-held")
    for _ in range(200):
        st = await h.query(TemplateWorkflow.status)
        if st.steps["a"].state == st.steps["b"].state == "held":
            break
        await asyncio.sleep(0.05)
    await h.execute_update(
        TemplateWorkflow.resolve,
        ResolveInput(step="a", action="retry", actor="olga", **{"with": {"name": "ok"}}),
    )
    await h.execute_update(
        TemplateWorkflow.resolve, ResolveInput(step="b", action="skip", actor="olga", output={"n": 1})
    )
    BROKEN.difference_update({"rec-held-a", "rec-held-b"})
    return h


async def _deadline(client: Client, w: Worker) -> WorkflowHandle[Any, Any]:
    """SPEC §9 run deadline: the wait is cancelled, the cleanup runs, the run fails."""
    doc = {
        "deadline": "1s",
        "steps": [
            {"id": "w", "wait": {"duration": "1m"}},
            act("cleanup", depends_on=["w"], run_if="all_done"),
        ],
    }
    return await start(client, w, doc, run_id="rec-deadline")


#: scenarios that need more than a start (name -> the handle of the run to record)
FLOWS: dict[str, Callable[[Client, Worker], Awaitable[WorkflowHandle[Any, Any]]]] = {
    "redrive": _redriven,
    "held": _held,
    "deadline": _deadline,
}


async def _settle(h: WorkflowHandle[Any, Any]) -> None:
    try:
        await h.result()
    except Exception:  # noqa: BLE001 - failing scenarios are recorded too
        pass


async def record(client: Client, names: list[str]) -> None:
    async with worker(client, activities=ACTIVITIES) as w:
        for name in names:
            if name in FLOWS:
                h = await FLOWS[name](client, w)
            else:
                sc = SCENARIOS[name]
                h = await start(
                    client, w, sc["doc"], sc.get("input"), run_id=f"rec-{name}",
                    **sc.get("extra", {}),
                )
            await _settle(h)
            h = client.get_workflow_handle(h.id)
            # the first execution of the run (continue-as-new and redrive keep their first run)
            first_run = (await client.get_workflow_handle(h.id).fetch_history()).events[0]
            first_id = first_run.workflow_execution_started_event_attributes.first_execution_run_id
            first = client.get_workflow_handle(h.id, run_id=first_id)
            history = await first.fetch_history()
            (HERE / f"{name}.json").write_text(history.to_json())
            print(f"recorded {name}: {len(history.events)} events")
            last = await client.get_workflow_handle(h.id).fetch_history()
            if last.run_id != history.run_id:
                (HERE / f"{name}_last.json").write_text(last.to_json())
                print(f"recorded {name}_last: {len(last.events)} events")


async def main(argv: list[str]) -> None:
    from tests.helpers.temporal import start_dev_server

    env = await start_dev_server()
    try:
        await record(env.client, argv or [*SCENARIOS, *FLOWS])
    finally:
        await env.shutdown()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
