"""Test mode in the interpreter (RunInput.test, SPEC §13), on the dev server.

A test run survives continue-as-new with its answers and trace (the scripted decisions
of a 12-round loop are used in order across several executions); `allow_real` calls the
activity on the plan's real task queue, mocks never call it.
"""

from __future__ import annotations

from temporalio.client import Client

from tests.workflows.approval_support import approval, approval_worker, directory  # noqa: F401
from tests.workflows.interp_support import CALLS, start
from workflows.engine.io import RunStatus
from workflows.engine.testplan import MockAnswer, ScriptedDecision, TestPlan
from workflows.engine.workflow import TemplateWorkflow

ROUNDS = 12


async def test_a_test_run_keeps_its_script_across_continue_as_new(
    client: Client, directory: object  # noqa: F811
) -> None:
    doc = {
        "steps": [
            {"id": "review", "loop": {
                "max_iterations": ROUNDS + 2,
                "until": "steps.ok.decision == 'approved'",
                "steps": [
                    {"id": "draft", "action": "echo", "with": {"round": "${{ iteration }}"}},
                    {"id": "real", "depends_on": ["draft"], "action": "echo",
                     "with": {"round": "${{ iteration }}"}},
                    {**approval("ok", assignees={"users": ["ann"]}), "depends_on": ["real"]},
                ]}},
        ],
        "outputs": {"rounds": "${{ steps.review.output.draft }}"},
    }
    decisions: list[ScriptedDecision | None] = [
        ScriptedDecision(outcome="rejected", actor="ann") for _ in range(ROUNDS - 1)
    ]
    decisions.append(ScriptedDecision(outcome="approved", actor="ann"))
    async with approval_worker(client) as w:
        test = TestPlan(
            mocks={"draft": [MockAnswer(output={"n": i}) for i in range(ROUNDS)]},
            decisions={"ok": decisions},
            allow_real=["real"],
            real_task_queue=w.task_queue,
        )
        first = await start(client, w, doc, test=test, run_id=f"tm-{id(test)}",
                            carry={"options": {"history_limit": 60}})
        h = client.get_workflow_handle(first.id)
        result = await h.result()
        desc = await h.describe()
        st: RunStatus = await h.query(TemplateWorkflow.status)
        trace = await h.query(TemplateWorkflow.test_trace)
    assert desc.run_id != first.first_execution_run_id  # continued as new on the way
    assert result == {"rounds": {"n": ROUNDS - 1}}  # the mock list, used in order
    assert [st.steps[f"review[{i}].ok"].decision for i in range(ROUNDS)] == (
        ["rejected"] * (ROUNDS - 1) + ["approved"]
    )
    scripted = [t["step"] for t in trace if t["event"] == "decision.scripted"]
    assert scripted == [f"review[{i}].ok" for i in range(ROUNDS)]  # one trace across executions
    # `real` called the activity (once per round, on the real queue); mocked `draft` never did
    keys = [k for k in CALLS if k.startswith(f"{first.id}/")]
    assert sorted(keys) == sorted(f"{first.id}/review[{i}].real" for i in range(ROUNDS))
    assert all(CALLS[k] == 1 for k in keys)
