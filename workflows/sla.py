"""SLA levels and escalation (SPEC §2 "SLA and escalation").

A level `{after, level, notify?, reassign?, decide?}` fires once, `after` its
anchor: the step's start (step levels) or the run's start (template levels).
Each level is one durable timer (with a `summary` naming it, visible in the Web
UI). When it fires the level's index is recorded in `ApprovalState.fired`
before anything else happens, so replay reproduces the decision and a restarted
worker neither loses nor repeats it; the notification activity carries the key
`<run_id>/<step>/sla/<level>` (`<run_id>/sla/<level>` for run levels), stable
across its retries.

Order of effects in a level: `reassign` (approvals: the task goes to the new
assignees), then `decide` (approvals: the task ends with that outcome), then
`notify` (the `task` in its scope is the task as it stood after the reassign).
Run-level `reassign`/`decide` apply to every approval open at that moment.
Timers run while the run is paused, and stop when the step (run) finishes; fired
levels and anchors carry across continue-as-new, so the remaining time is
honoured, not restarted.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

from workflows import metrics
from workflows.approvals_state import ApprovalState, reassign, state_of
from workflows.durations import parse_duration
from workflows.expressions import ExpressionError, render
from workflows.io import ActionRequest
from workflows.model import SlaLevel

if TYPE_CHECKING:
    from workflows.runtime import Runtime
    from workflows.steps.base import StepContext

NOTIFY_TIMEOUT = timedelta(minutes=5)
NOTIFY_RETRY = RetryPolicy(maximum_attempts=5, maximum_interval=timedelta(minutes=1))
RUN = ""  # the key of run-level levels in ApprovalState.fired


class SlaWatch:
    """The timers of one list of levels (a step's or the run's)."""

    def __init__(
        self,
        state: ApprovalState,
        levels: list[SlaLevel],
        *,
        key: str,
        anchor: datetime,
        scope: Callable[[], dict[str, Any]],
        on_fire: Callable[[str], None],
    ) -> None:
        self.state, self.levels, self.key, self.anchor = state, levels, key, anchor
        self.scope, self.on_fire = scope, on_fire
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self.levels and self._task is None:
            self._task = asyncio.create_task(self._run())

    def stop(self) -> None:
        """Cancel the pending timers; a level already firing completes in the background."""
        if self._task is not None and not self._task.done():
            self._task.cancel()

    async def _run(self) -> None:
        fired = self.state.fired.setdefault(self.key, [])
        order = sorted(range(len(self.levels)), key=lambda i: parse_duration(self.levels[i].after))
        for i in order:
            if i in fired:
                continue
            level = self.levels[i]
            delay = self.anchor + parse_duration(level.after) - workflow.now()
            if delay > timedelta(0):
                where = self.key or "run"
                await workflow.sleep(
                    delay, summary=f"SLA {level.level} of {where} (+{level.after})"
                )
            fired.append(i)  # the decision to fire, recorded before any effect
            metrics.sla_fired(self.state.rt, self.key, level.level)
            self.on_fire(level.level)
            self.state.spawn(_fire(self.state, level, self.key, self.scope))


async def _fire(
    state: ApprovalState, level: SlaLevel, key: str, scope: Callable[[], dict[str, Any]]
) -> None:
    tasks = [t for k, t in state.book.tasks.items() if key == RUN or k == key]
    tasks = [t for t in tasks if t.decision is None]
    if level.reassign is not None:
        for task in tasks:
            try:
                await reassign(state, task, level.reassign, "sla", f"sla:{level.level}")
            except ActivityError as exc:  # the directory stayed unreadable: keep the assignees
                workflow.logger.warning("SLA %s of %s: reassign failed: %s", level.level, key, exc)
    snapshot = next((t.task_scope() for t in tasks if t.decision is None), None)
    if level.decide is not None:
        for task in tasks:
            if level.decide in task.outcomes:
                task.close(level.decide, f"sla:{level.level}", workflow.now())
            else:
                workflow.logger.warning(
                    "SLA %s: outcome %r is not one of %s for %s",
                    level.level,
                    level.decide,
                    task.outcomes,
                    task.step,
                )
    if level.notify is not None:
        await _notify(level, key, {**scope(), **({"task": snapshot} if snapshot else {})})


async def _notify(level: SlaLevel, key: str, scope: dict[str, Any]) -> None:
    assert level.notify is not None
    run_id = workflow.info().workflow_id
    where = f"{key}/" if key else ""
    try:
        params = render(level.notify.with_, scope)
    except ExpressionError as exc:
        workflow.logger.warning("SLA %s of %s: cannot render `with`: %s", level.level, key, exc)
        return
    try:
        await workflow.execute_activity(
            level.notify.action,
            ActionRequest(
                run_id=run_id,
                step=key,
                idempotency_key=f"{run_id}/{where}sla/{level.level}",
                params=params,
            ),
            start_to_close_timeout=NOTIFY_TIMEOUT,
            retry_policy=NOTIFY_RETRY,
            summary=f"SLA {level.level} of {key or 'run'}: {level.notify.action}",
        )
    except ActivityError as exc:
        workflow.logger.warning("SLA %s of %s: notification failed: %s", level.level, key, exc)


@asynccontextmanager
async def step_sla(ctx: StepContext) -> AsyncIterator[None]:
    """Run the step's SLA timers while the body runs (a no-op without `sla`)."""
    if not ctx.step.sla:
        yield
        return
    state = state_of(ctx.rt)
    rt, status = ctx.rt, ctx.status

    def on_fire(name: str) -> None:
        status.sla_level = name
        rt.changed()

    watch = SlaWatch(
        state,
        ctx.step.sla,
        key=ctx.address,
        anchor=status.started_at or workflow.now(),
        scope=ctx.scope,
        on_fire=on_fire,
    )
    watch.start()
    try:
        yield
    except GeneratorExit:  # evicted from the worker cache: nothing to stop
        raise
    except asyncio.CancelledError:
        watch.stop()  # fired levels stay recorded (a snapshot may still be taken)
        raise
    except BaseException:
        watch.stop()
        state.fired.pop(ctx.address, None)
        raise
    watch.stop()
    state.fired.pop(ctx.address, None)


def start_run_sla(rt: Runtime) -> None:
    """Start the template's levels, anchored on the run's start (also after continue-as-new)."""
    state = state_of(rt)
    levels = rt.plan.template.sla
    if not levels or state.run_watch is not None:
        return

    def on_fire(name: str) -> None:
        rt.sla_level = name
        rt.changed()

    state.run_watch = SlaWatch(
        state,
        levels,
        key=RUN,
        anchor=rt.started_at,
        scope=lambda: rt.scope(rt.top),
        on_fire=on_fire,
    )
    state.run_watch.start()


def stop_run_sla(state: ApprovalState) -> None:
    if state.run_watch is not None:
        state.run_watch.stop()
