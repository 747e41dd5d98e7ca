"""Incidents (SPEC §9): `on_failure: hold` keeps a failed step open for an operator.

A step whose `on_failure` (or the template's) is `hold` and whose retries are exhausted
does not fail: it goes `held` (with `error` and `attempts`), the run's `RunState`
becomes `held`, `Assignees` gains `role:operator`, and independent branches go on. Its
SLA levels keep running (the hold happens inside the step's wrappers). The `resolve`
update decides:

- `retry`: the step runs again (`with` keys override its rendered arguments for that
  retry; an action's whole retry policy applies again);
- `skip`: the step ends `skipped` with `output` as given, and counts as satisfied for
  its dependents' `run_if` (`scheduler.dep_state`);
- `fail`: the step fails as if held were never set.

Each hold is recorded on the step (`incidents`: when, the error, who resolved it how).
A held step fails at once when the run starts failing for another reason (holding it
would change nothing), and is cancelled with the run. Kinds with a body (foreach, loop)
never hold themselves — their nested steps do — nor does `fail` (`Kind.holds`).
A plain run pays nothing: without `hold` the step runner is called as before.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, NoReturn

from temporalio import workflow
from temporalio.exceptions import ApplicationError, FailureError

from workflows.engine.approvals.state import state_of as approvals_of
from workflows.engine.approvals.state import sync_assignees
from workflows.engine.context import StepContext, StepFailure
from workflows.engine.failures import failure_message
from workflows.engine.io import Incident, ResolveInput, StepStatus
from workflows.engine.runtime import Runtime
from workflows.language.expressions import ExpressionError
from workflows.language.kinds import Kind
from workflows.language.model import StepBase, walk

#: who is asked to resolve a held step (an `Assignees` key while any step is held)
OPERATORS = "role:operator"


class ResolveError(StrEnum):
    """`ApplicationError` types of the `resolve` validator (the API maps them to 409/422)."""

    NOT_HELD = "NotHeld"
    INVALID = "InvalidResolution"


def refuse(kind: ResolveError, message: str) -> NoReturn:
    raise ApplicationError(message, type=kind.value, non_retryable=True)


class Skipped(Exception):
    """A held step resolved with `skip`: it ends `skipped` with this output."""

    def __init__(self, output: Any) -> None:
        super().__init__("skipped by resolution")
        self.output = output


class IncidentState:
    """Resolutions on their way to held steps, and the held steps' definitions."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.pending: dict[str, ResolveInput] = {}
        self.steps: dict[str, StepBase] = {}
        self.published = False  # whether `role:operator` is in the published Assignees

    def assignees(self) -> list[str]:
        return [OPERATORS] if self.rt.held() else []

    def on_change(self) -> None:
        """Publish `Assignees` when the run starts or stops having held steps."""
        held = bool(self.rt.held())
        if held != self.published:
            self.published = held
            sync_assignees(approvals_of(self.rt))


def install(rt: Runtime) -> IncidentState:
    """Attach the incident state (after the approvals plug-in: it publishes Assignees).

    Templates that hold nothing get no hooks (plain runs pay nothing)."""
    state = IncidentState(rt)
    state.published = bool(rt.held())  # carried over a continue-as-new
    rt.plugins["incidents"] = state
    template = rt.plan.template
    if template.on_failure == "hold" or any(s.on_failure == "hold" for s in walk(template.steps)):
        rt.assignee_sources.append(state.assignees)
        rt.on_change.append(state.on_change)
    return state


def state_of(rt: Runtime) -> IncidentState:
    state: IncidentState = rt.plugins["incidents"]
    return state


def holds(rt: Runtime, kind: Kind, step: StepBase) -> bool:
    policy = step.on_failure or rt.plan.template.on_failure
    return policy == "hold" and kind.holds and not step.body()


async def run(ctx: StepContext, kind: Kind, step: StepBase) -> Any:
    """The step's runner, holding its failures when `on_failure: hold` applies."""
    rt = ctx.rt
    if not holds(rt, kind, step):
        return await kind.run(ctx, step)
    state_of(rt).steps[ctx.address] = step
    error: BaseException | None = None
    overrides: dict[str, Any] | None = None
    resumed = ctx.resuming and ctx.progress is not None and bool(ctx.progress.get("held"))
    message = ctx.status.error or "failed"  # held before a continue-as-new
    while True:
        if not resumed:
            ctx.overrides = overrides
            try:
                return await kind.run(ctx, step)
            except (StepFailure, ExpressionError, FailureError) as e:
                if rt.cancelling or rt.failing is not None:
                    raise  # cancelled, or the run fails anyway: nothing to hold
                error, message = e, _message(e)
            finally:
                ctx.overrides = None
        res = await _hold(ctx, message, resumed=resumed)
        resumed = False
        if res is None or res.action == "fail":
            raise error or StepFailure(message)
        if res.action == "skip":
            raise Skipped(res.output)
        overrides = res.with_ or None


def _message(error: BaseException) -> str:
    if isinstance(error, StepFailure):
        return error.message
    if isinstance(error, FailureError):
        return failure_message(error)
    return str(error)


async def _hold(ctx: StepContext, message: str, *, resumed: bool) -> ResolveInput | None:
    """Hold the step until a resolution arrives (None: the run started failing meanwhile)."""
    rt, address, state = ctx.rt, ctx.address, state_of(ctx.rt)
    st = ctx.status
    if not resumed:
        incident = Incident(held_at=workflow.now(), error=message, attempts=st.attempts)
        st.incidents = [*(st.incidents or []), incident]
        ctx.save_progress({"held": True})
    if st.state != "held":
        rt.set_state(address, "held", error=message)
    await workflow.wait_condition(lambda: address in state.pending or rt.failing is not None)
    res = state.pending.pop(address, None)
    if res is None:
        return None
    _record(st, res, workflow.now())
    if res.action == "retry":
        rt.progress.pop(address, None)
        ctx.progress = None
        rt.set_state(address, "running", error=None)
    return res


def _record(st: StepStatus, res: ResolveInput, now: datetime) -> None:
    if st.incidents:
        st.incidents[-1] = st.incidents[-1].model_copy(
            update={
                "action": res.action,
                "actor": res.actor,
                "comment": res.comment,
                "with_": res.with_,
                "resolved_at": now,
            }
        )


# -- the `resolve` update ---------------------------------------------------------------


def validate_resolve(rt: Runtime, r: ResolveInput) -> None:
    """Refuse (nothing written to history) what cannot apply: 409 / 422 at the API."""
    if r.expires_at is not None and workflow.now() > r.expires_at:
        raise ApplicationError(
            "the request reached the run after its deadline and was not applied",
            type="Expired",
            non_retryable=True,
        )
    state = state_of(rt)
    st = rt.statuses.get(r.step)
    if st is None or st.state != "held" or r.step in state.pending:
        now = st.state if st is not None else "not a step of this run"
        refuse(ResolveError.NOT_HELD, f"step {r.step!r} is not held ({now})")
    if r.with_ is not None:
        if r.action != "retry":
            refuse(ResolveError.INVALID, "`with` applies to retry only")
        step = state.steps.get(r.step)
        if step is None or not hasattr(step, "with_"):
            refuse(ResolveError.INVALID, f"step {r.step!r} takes no `with` arguments")
        if "connection" in r.with_:
            refuse(ResolveError.INVALID, "a resolution cannot change the step's connection")
    if r.output is not None and r.action != "skip":
        refuse(ResolveError.INVALID, "`output` applies to skip only")


async def resolve_update(rt: Runtime, r: ResolveInput) -> StepStatus:
    validate_resolve(rt, r)
    state_of(rt).pending[r.step] = r
    await workflow.wait_condition(lambda: rt.statuses[r.step].state != "held")
    return rt.statuses[r.step].model_copy(deep=True)
