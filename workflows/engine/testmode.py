"""Test mode of a run (SPEC §13): a `TemplateWorkflow` execution with `RunInput.test` set.

The interpreter runs the template exactly as in a real run; a few small hooks consult
`of(rt)` (None in every real run, which then behaves — and records history — as if
this module did not exist):

- `action` / `subflow` steps are answered by their mock (`TestRun.answer`), inside the
  workflow: no activity, no child; steps in `allow_real` call their activity on the
  real workers' task queue (`TestPlan.real_task_queue`);
- approvals take the scripted decisions (`next_decision`); when nobody decides, time
  jumps: the step's SLA levels fire in `after` order, then its timeout applies
  (`workflows.engine.approvals.step`, `workflows.engine.sla.fire_now`);
- a gate that pauses is resumed at once (`resume_gate`), as the script's operator;
- `wait` timers, SLA timers of steps and of the run are skipped (the test clock stands
  still: a run that people answer at once never reaches an SLA level);
- notifications (task e-mails, SLA notify actions) are recorded, never sent;
- no search attribute is upserted (the starter sets none: a test run is not a run).

Everything that happens is written to a trace (`[{at, step, event, detail}]`, the
query `test_trace`), fed by the run events (`workflows.engine.events`) and the
test-only notes above. Trace and consumed answers live in `rt.ext["test"]`, so they
survive continue-as-new.
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

from temporalio import workflow

from workflows.engine import events
from workflows.engine.context import StepContext, StepFailure
from workflows.engine.events import RunEvent
from workflows.engine.runtime import Runtime
from workflows.engine.testplan import MockAnswer, ScriptedDecision, TestPlan
from workflows.language.model import Retry

#: trace entries kept at most (a huge foreach keeps its first ones and a marker)
MAX_TRACE = 5000


class TestRun:
    """The test plan of one run, the answers it has used and the trace."""

    __test__ = False  # not a pytest test class

    def __init__(self, rt: Runtime, plan: TestPlan) -> None:
        self.rt, self.plan = rt, plan
        data = rt.ext.get("test") or {}
        #: answers consumed per key: "m:<key>" (mocks), "d:<key>" (decisions)
        self.used: dict[str, int] = dict(data.get("used") or {})
        self.trace: list[dict[str, Any]] = list(data.get("trace") or [])

    def snapshot(self) -> dict[str, Any]:
        return {"used": dict(self.used), "trace": list(self.trace)}

    # -- the trace -----------------------------------------------------------------

    def note(self, step: str | None, event: str, **detail: Any) -> None:
        if len(self.trace) >= MAX_TRACE:
            if len(self.trace) == MAX_TRACE:
                self.trace.append({"at": _now(), "step": None, "event": "trace.truncated"})
            return
        entry: dict[str, Any] = {"at": _now(), "step": step, "event": event}
        if detail:
            entry["detail"] = detail
        self.trace.append(entry)

    def listen(self, ev: RunEvent) -> None:
        """Run events into the trace (a `rt.listeners` entry)."""
        data = dict(ev.data)
        if ev.type == events.STEP_FINISHED:
            st = self.rt.statuses.get(ev.step or "")
            detail = {"kind": data.get("kind")}
            if st is not None and st.error:
                detail["error"] = st.error
            if st is not None and st.decision:
                detail["decision"] = st.decision
            self.note(ev.step, f"step.{data.get('state')}", **detail)
            return
        data.pop("seconds", None)
        if ev.actor is not None:
            data["actor"] = ev.actor
        self.note(ev.step, ev.type, **data)

    # -- mocks -----------------------------------------------------------------------

    def next_mock(self, address: str) -> MockAnswer | None:
        key = self.plan.mock_key(address)
        if key is None:
            return None
        answers = self.plan.mocks[key]
        n = self.used.get(f"m:{key}", 0)
        self.used[f"m:{key}"] = n + 1
        return answers[min(n, len(answers) - 1)] if answers else None

    def answer(self, ctx: StepContext, what: dict[str, Any], retry: Retry | None) -> Any:
        """The mocked result of the step at `ctx.address`: its output, or a StepFailure.

        `what` goes into the trace (the action and the `with:` it would have sent).
        A mocked error stands for the step's final failure, retries included (`retry`:
        the step's policy, None for steps without retries)."""
        mock = self.next_mock(ctx.address)
        if mock is None:
            self.note(ctx.address, "mock.missing", **what)
            raise StepFailure(
                f"template test: no mock for step '{ctx.address}' (give mocks.<step> or allow_real)"
            )
        if mock.error is not None:
            self.note(ctx.address, "mock.error", **what, error=mock.error)
            if retry is not None:
                final = not mock.retryable or (mock.type or "") in retry.non_retryable
                ctx.status.attempts = 1 if final else retry.max_attempts
            raise StepFailure(mock.error)
        self.note(ctx.address, "mock.output", **what, output=mock.output)
        ctx.status.attempts = 1
        return mock.output

    # -- decisions -------------------------------------------------------------------

    def next_decision(self, address: str) -> tuple[str | None, ScriptedDecision | None]:
        """(the key that scripts this step, its next decision); None: nobody decides."""
        key = self.plan.decision_key(address)
        if key is None:
            return None, None
        answers = self.plan.decisions[key]
        n = self.used.get(f"d:{key}", 0)
        if n >= len(answers):
            return key, None
        self.used[f"d:{key}"] = n + 1
        return key, answers[n]

    def resume_gate(self, ctx: StepContext) -> None:
        """A gate paused the run: the script resumes it at once (a scripted `resume`
        for the gate, if any, is used up)."""
        self.next_decision(ctx.address)
        self.note(ctx.address, "gate.resumed", actor="test")
        self.rt.resume()


def of(rt: Runtime) -> TestRun | None:
    """The run's test mode, None for every real run."""
    found: TestRun | None = rt.plugins.get("test")
    return found


def install(rt: Runtime) -> TestRun | None:
    """Attach test mode when `RunInput.test` is set (also after continue-as-new)."""
    plan = rt.inp.test
    if plan is None:
        return None
    test = TestRun(rt, plan)
    rt.plugins["test"] = test
    rt.before_carry.append(lambda: rt.ext.__setitem__("test", test.snapshot()))
    rt.listeners.append(test.listen)
    return test


def trace(rt: Runtime) -> list[dict[str, Any]]:
    test = of(rt)
    return list(test.trace) if test is not None else []


def _now() -> str:
    return workflow.now().astimezone(UTC).isoformat().replace("+00:00", "Z")
