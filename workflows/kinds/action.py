"""`action: NAME` + `with:` — one activity call (SPEC §2, §4).

The activity registered as NAME gets an `ActionRequest` with the rendered `with:`
and an idempotency key stable across retries. Defaults (compiled in, so the
history shows the effective policy): 3 attempts (initial 1s, backoff 2.0, max
interval 1m) and a 5m start-to-close timeout; actions heartbeat, so a dead worker
is noticed within `HEARTBEAT_TIMEOUT`.
"""

from __future__ import annotations

from datetime import timedelta
from functools import lru_cache
from typing import Any, ClassVar

from pydantic import Field
from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, RetryState

from workflows.engine import testmode
from workflows.engine.attempts import ATTEMPT_KEY, unwrap_result
from workflows.engine.context import StepContext
from workflows.engine.io import ActionRequest
from workflows.engine.scope import LazyScope
from workflows.language.checker import ActionModels, Checker, Scope
from workflows.language.durations import parse_duration
from workflows.language.expressions import render
from workflows.language.kinds import Kind
from workflows.language.model import Retry, SlaLevel, StepBase, Template
from workflows.language.trust import takes_connection

DEFAULT_TIMEOUT = "5m"
HEARTBEAT_TIMEOUT = timedelta(seconds=30)


class ActionStep(StepBase):
    kind: ClassVar[str] = "action"

    action: str
    with_: dict[str, Any] = Field(default_factory=dict, alias="with")


def check(c: Checker, step: ActionStep, loc: str, here: Scope) -> None:
    c.action(step.action, step.with_, f"{loc}.action", f"{loc}.with")
    c.value(step.with_, f"{loc}.with", here)


def prepare(step: ActionStep) -> None:
    if step.retry is None:
        step.retry = Retry()
    if step.timeout is None:
        step.timeout = DEFAULT_TIMEOUT


@lru_cache(maxsize=512)
def _duration(text: str) -> timedelta:
    return parse_duration(text)


def retry_policy(retry: Retry | None) -> RetryPolicy:
    r = retry or Retry()
    key = (r.initial_interval, r.backoff, r.max_interval, r.max_attempts, tuple(r.non_retryable))
    return _policy(*key)


@lru_cache(maxsize=512)
def _policy(
    initial: str, backoff: float, maximum: str, attempts: int, non_retryable: tuple[str, ...]
) -> RetryPolicy:
    return RetryPolicy(
        initial_interval=_duration(initial),
        backoff_coefficient=backoff,
        maximum_interval=_duration(maximum),
        maximum_attempts=attempts,
        non_retryable_error_types=list(non_retryable) or None,
    )


def _failed_attempts(err: ActivityError, retry: Retry | None) -> int | None:
    """Attempts of a failed activity: exact when retries ran out, else from the failure."""
    cause = err.cause
    details = getattr(cause, "details", None) or ()
    for d in reversed(details):
        if isinstance(d, dict) and ATTEMPT_KEY in d:
            return int(d[ATTEMPT_KEY])
    if err.retry_state == RetryState.MAXIMUM_ATTEMPTS_REACHED:
        return (retry or Retry()).max_attempts
    return None


async def run(ctx: StepContext, step: ActionStep) -> Any:
    rt = ctx.rt
    params = render(step.with_, LazyScope(ctx.scope))
    if ctx.overrides:  # a held step retried with patched arguments (engine/incidents.py)
        params = {**params, **ctx.overrides}
    test, queue = testmode.of(rt), None
    if test is not None:  # a template test: the mock answers, unless allowed to run for real
        if not test.plan.real(ctx.address):
            what = {"action": step.action, "with": params}
            return test.answer(ctx, what, step.retry or Retry())
        test.note(ctx.address, "action.real", action=step.action, queue=test.plan.real_task_queue)
        queue = test.plan.real_task_queue
    req = ActionRequest(
        run_id=rt.run_id,
        step=ctx.address,
        idempotency_key=f"{rt.run_id}/{ctx.address}",
        params=params,
        connection=rt.inp.connection_for(step.with_),
        report_attempt=True,
    )
    with rt.in_flight():
        try:
            result = await workflow.execute_activity(
                step.action,
                req,
                start_to_close_timeout=_duration(step.timeout or DEFAULT_TIMEOUT),
                retry_policy=retry_policy(step.retry),
                # actions heartbeat every <= 5 s (activities.registry): a dead worker or a
                # cancellation is noticed within this, not after the whole timeout
                heartbeat_timeout=HEARTBEAT_TIMEOUT,
                summary=ctx.address,
                task_queue=queue,
            )
        except ActivityError as e:
            ctx.status.attempts = _failed_attempts(e, step.retry)
            raise
    output, attempts = unwrap_result(result)
    ctx.status.attempts = attempts
    return output


KIND = Kind(
    model=ActionStep,
    run=run,
    check=check,
    describe=lambda step: step.action,
    prepare=prepare,
    retries=True,
)


def connections(template: Template, actions: ActionModels) -> dict[str, str]:
    """Connection name → the first place a step or SLA notification of `template` names
    it (the API pins these at run start, SPEC §8)."""
    found: dict[str, str] = {}

    def call(action: str, params: dict[str, Any], wloc: str) -> None:
        name = params.get("connection")
        if takes_connection(actions.get(action)) and isinstance(name, str):
            found.setdefault(name, f"{wloc}.connection")

    def levels(sla: list[SlaLevel], prefix: str) -> None:
        for j, level in enumerate(sla):
            if level.notify is not None:
                call(level.notify.action, level.notify.with_, f"{prefix}sla[{j}].notify.with")

    def steps(items: list[StepBase], prefix: str) -> None:
        for i, step in enumerate(items):
            loc = f"{prefix}[{i}]"
            if isinstance(step, ActionStep):
                call(step.action, step.with_, f"{loc}.with")
            levels(step.sla, f"{loc}.")
            steps(step.body(), f"{loc}.{step.kind}.steps")

    levels(template.sla, "")
    steps(template.steps, "steps")
    return found
