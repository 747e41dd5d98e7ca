"""SLA levels and escalation (SPEC §2 "SLA and escalation").

A level `{after, level, notify?, reassign?, decide?}` fires once, `after` its
anchor: the step's start (step levels) or the run's start (template levels).
Each level is one durable timer (with a `summary` naming it, visible in the Web
UI). When it fires the level's index is recorded in `SlaState.fired` before
anything else happens, so replay reproduces the decision and a restarted worker
neither loses nor repeats it; the notification activity carries the key
`<run_id>/<step>/sla/<level>` (`<run_id>/sla/<level>` for run levels), stable
across its retries.

`reassign` and `decide` act on the open tasks people decide (approvals), reached
through the small `Escalations` interface the approvals plug-in provides. Order of
effects in a level: `reassign`, then `decide`, then `notify` (the `task` in its
scope is the task as it stood after the reassign). Run-level `reassign`/`decide`
apply to every task open at that moment. Timers run while the run is paused, and
stop when the step (run) finishes; fired levels and anchors carry across
continue-as-new, so the remaining time is honoured, not restarted.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import datetime, timedelta
from typing import Any, Protocol

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

from workflows.engine import events, testmode
from workflows.engine.context import StepContext
from workflows.engine.io import ActionRequest
from workflows.engine.runtime import Runtime
from workflows.language.durations import parse_duration
from workflows.language.expressions import ExpressionError, render
from workflows.language.model import Assignees, SlaLevel

NOTIFY_TIMEOUT = timedelta(minutes=5)
NOTIFY_RETRY = RetryPolicy(maximum_attempts=5, maximum_interval=timedelta(minutes=1))
RUN = ""  # the key of run-level levels in SlaState.fired


class Escalatable(Protocol):
    """An open task people decide, as an SLA level sees it."""

    step: str
    outcomes: list[str]
    decision: str | None

    def close(self, outcome: str, by: str, now: datetime) -> None: ...

    def task_scope(self) -> dict[str, Any]: ...


class Escalations(Protocol):
    """Where SLA `reassign`/`decide` act (the approvals plug-in)."""

    def open_tasks(self, key: str) -> Sequence[Escalatable]:
        """Undecided tasks at step address `key` (`RUN` = every open task)."""
        ...

    async def reassign(self, task: Escalatable, to: Assignees, reason: str) -> None: ...


class _NoEscalations:
    def open_tasks(self, key: str) -> Sequence[Escalatable]:
        return []

    async def reassign(self, task: Escalatable, to: Assignees, reason: str) -> None:
        return None


class SlaState:
    """Fired levels of one run (carried in `rt.ext["sla"]`) and the run-level watch."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        carried = rt.ext.get("sla") or {}
        # runs carried over before SLA state had its own key kept it with approvals
        fired = carried.get("fired") or (rt.ext.get("approvals") or {}).get("fired") or {}
        #: SLA levels already fired, by step address ("" = the run's own levels), as indexes
        self.fired: dict[str, list[int]] = {k: list(v) for k, v in fired.items()}
        self.escalations: Escalations = _NoEscalations()
        self.run_watch: SlaWatch | None = None

    def snapshot(self) -> dict[str, Any]:
        return {"fired": {k: list(v) for k, v in self.fired.items()}}


class SlaWatch:
    """The timers of one list of levels (a step's or the run's)."""

    def __init__(
        self,
        state: SlaState,
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
            self.state.rt.emit(events.SLA_FIRED, self.key or None, level=level.level)
            self.on_fire(level.level)
            self.state.rt.spawn(_fire(self.state, level, self.key, self.scope))


async def _fire(
    state: SlaState, level: SlaLevel, key: str, scope: Callable[[], dict[str, Any]]
) -> None:
    escalations = state.escalations
    tasks = list(escalations.open_tasks(key))
    if level.reassign is not None:
        for task in tasks:
            try:
                await escalations.reassign(task, level.reassign, f"sla:{level.level}")
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
        pinned = state.rt.inp.connection_for(level.notify.with_)
        scope_ = {**scope(), **({"task": snapshot} if snapshot else {})}
        await _notify(level, key, scope_, pinned, testmode.of(state.rt))


async def _notify(
    level: SlaLevel,
    key: str,
    scope: dict[str, Any],
    connection: dict[str, Any] | None = None,
    test: testmode.TestRun | None = None,
) -> None:
    assert level.notify is not None
    run_id = workflow.info().workflow_id
    where = f"{key}/" if key else ""
    try:
        params = render(level.notify.with_, scope)
    except ExpressionError as exc:
        workflow.logger.warning("SLA %s of %s: cannot render `with`: %s", level.level, key, exc)
        return
    if test is not None:  # a template test sends no notification
        what = {"action": level.notify.action, "level": level.level, "with": params}
        test.note(key or None, "notification.suppressed", **what)
        return
    try:
        await workflow.execute_activity(
            level.notify.action,
            ActionRequest(
                run_id=run_id,
                step=key,
                idempotency_key=f"{run_id}/{where}sla/{level.level}",
                params=params,
                connection=connection,
            ),
            start_to_close_timeout=NOTIFY_TIMEOUT,
            retry_policy=NOTIFY_RETRY,
            summary=f"SLA {level.level} of {key or 'run'}: {level.notify.action}",
        )
    except ActivityError as exc:
        workflow.logger.warning("SLA %s of %s: notification failed: %s", level.level, key, exc)


def state_of(rt: Runtime) -> SlaState:
    state: SlaState = rt.plugins["sla"]
    return state


def step_sla(ctx: StepContext) -> AbstractAsyncContextManager[None] | None:
    """The step's SLA timers around its body; None without `sla`, and in a template
    test (its clock stands still, see `fire_now`)."""
    if not ctx.step.sla or testmode.of(ctx.rt) is not None:
        return None
    return _step_sla(ctx)


@asynccontextmanager
async def _step_sla(ctx: StepContext) -> AsyncIterator[None]:
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


def install(rt: Runtime) -> SlaState:
    """Attach SLA state and hooks to a new Runtime (restored after continue-as-new)."""
    state = SlaState(rt)
    rt.plugins["sla"] = state
    rt.before_carry.append(lambda: rt.ext.__setitem__("sla", state.snapshot()))
    rt.step_wrappers.append(step_sla)
    rt.on_start.append(lambda: _start_run_levels(rt, state))

    async def stop_run_levels() -> None:  # run-level timers end with the run
        if state.run_watch is not None:
            state.run_watch.stop()

    rt.before_close.append(stop_run_levels)
    return state


def _start_run_levels(rt: Runtime, state: SlaState) -> None:
    """The template's levels, anchored on the run's start (also after continue-as-new)."""
    levels = rt.plan.template.sla
    if not levels or state.run_watch is not None or testmode.of(rt) is not None:
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


async def fire_now(ctx: StepContext, before: timedelta | None, done: Callable[[], bool]) -> None:
    """Template tests: nobody decides the step, so time jumps. Its levels fire one by one
    in `after` order — those due before `before` (the approval timeout) — until `done()`
    (a level's `decide` closed the task). Effects as in a real run; notifications are
    recorded, not sent."""
    state = state_of(ctx.rt)
    levels = ctx.step.sla
    fired = state.fired.setdefault(ctx.address, [])
    for i in sorted(range(len(levels)), key=lambda i: parse_duration(levels[i].after)):
        level = levels[i]
        if done() or (before is not None and parse_duration(level.after) >= before):
            break
        if i in fired:
            continue
        fired.append(i)
        ctx.rt.emit(events.SLA_FIRED, ctx.address, level=level.level)
        ctx.status.sla_level = level.level
        ctx.rt.changed()
        await _fire(state, level, ctx.address, ctx.scope)
    state.fired.pop(ctx.address, None)
