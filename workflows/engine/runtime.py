"""Run state of one `TemplateWorkflow` execution, and the services step runners use.

`Runtime` owns everything the status document and continue-as-new need: step
statuses by address, `vars`, pause, per-step progress, plug-in state (`ext`, carried;
`plugins`, live), background work (`spawn`), the published `RunState` and the Web UI's
current details. Background work and pause/cancel live in
`workflows.engine.control` (`RunControl`), checkpoints and continue-as-new in
`workflows.engine.continuation`. It schedules nothing itself (`workflows.engine.scheduler` does) and
knows no step kind: plug-ins (approvals, SLA) attach through the hooks below from
`install(rt)` functions the workflow calls in `@workflow.init`.

Hooks: `on_start` (sync, at the start of every run, also after continue-as-new),
`idle_checks` (all true → continue-as-new may happen), `before_close` (awaited before
the run returns, fails or ends cancelled), `after_close` (awaited after the `run.closed`
event, before the run returns: hand over what that event started), `pending_sources` (the status document's
`pending`), `step_wrappers` (`ctx -> async context manager` around a step runner, or None),
`before_carry` (flush live state into `ext`), `on_change` (after every state change).

Workflow code only: deterministic, no I/O. Imported through `imports_passed_through`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Any

from temporalio import workflow

from workflows.engine import redrive, status
from workflows.engine import scope as scopes
from workflows.engine import search_attributes as sa
from workflows.engine.continuation import HISTORY_LIMIT, Continuation, unpack
from workflows.engine.control import RunControl, StepStopped
from workflows.engine.events import RUN_STATE, STEP_FINISHED, Listener, RunEvent
from workflows.engine.frame import Frame
from workflows.engine.io import PendingTask, RunInput, RunStatus, StepStatus
from workflows.engine.statuses import Statuses

__all__ = ["TERMINAL", "Runtime", "StepStopped"]

TERMINAL = frozenset({"succeeded", "failed", "skipped", "cancelled"})


class Runtime(RunControl, Continuation):
    """State of one run plus the services a step runner needs (see `workflows.engine.context`)."""

    statuses: Statuses

    def __init__(self, inp: RunInput) -> None:
        info = workflow.info()
        carry = unpack(inp.carry)
        self.inp = inp
        self.plan = inp.plan
        self.run_id = info.workflow_id
        self.options: dict[str, Any] = dict(carry.get("options") or {})
        self.history_limit = int(self.options.get("history_limit", HISTORY_LIMIT))
        started = carry.get("started_at")
        self.started_at: datetime = datetime.fromisoformat(started) if started else info.start_time
        self.statuses = Statuses(
            {k: StepStatus.model_validate(v) for k, v in (carry.get("statuses") or {}).items()}
        )
        self.vars: dict[str, Any] = dict(carry.get("vars") or {})
        self.paused: bool = bool(carry.get("paused", False))
        self.progress: dict[str, dict[str, Any]] = dict(carry.get("progress") or {})
        #: addresses whose `progress` was seeded by a redrive (a loop's resume point)
        self.seeded: set[str] = set()
        if inp.redrive is not None and not carry:
            redrive.seed(self, inp.redrive)
        # JSON-able state of plug-ins (approvals, SLA), carried verbatim
        self.ext: dict[str, Any] = dict(carry.get("ext") or {})
        # live plug-in objects by name (rebuilt from `ext` after continue-as-new)
        self.plugins: dict[str, Any] = {}
        self.pending: dict[str, PendingTask] = {}
        self.sla_level: str | None = carry.get("sla_level")
        self.generation: int = int(carry.get("generation", 0))
        self.before_carry: list[Callable[[], None]] = []
        self.on_change: list[Callable[[], None]] = []
        self.on_start: list[Callable[[], None]] = []
        self.idle_checks: list[Callable[[], bool]] = [lambda: not self._background]
        self.before_close: list[Callable[[], Awaitable[None]]] = []
        self.after_close: list[Callable[[], Awaitable[None]]] = []
        self.pending_sources: list[Callable[[], list[PendingTask]]] = []
        # extra `Assignees` keys (held steps: role:operator), joined to the open tasks'
        self.assignee_sources: list[Callable[[], list[str]]] = []
        # each takes the step's StepContext (workflows.engine.context); None: not this step
        self.step_wrappers: list[Callable[[Any], AbstractAsyncContextManager[Any] | None]] = []
        # what watches the run (metrics, subscriptions): see workflows.engine.events
        self.listeners: list[Listener] = []
        self.kinds: dict[str, str] = {}  # address -> kind key (status details)
        self.containers: set[str] = set()  # addresses of steps with a body
        self.details: dict[str, str] = {}
        self.board = status.DetailsBoard()  # the Web UI's details table (workflows.engine.status)
        self.cancelling = False
        # address of the top-level step whose failure is failing the run (set once)
        self.failing: str | None = None
        # address of the (innermost) step whose failure failed the run (status document)
        self.failed_step: str | None = None
        self.closed_state: str | None = None
        self.closed_at: datetime | None = None
        self.output: Any = None
        self.error: str | None = None
        self._inflight = 0
        self._draining = False
        self._budget_history = -1
        self._budget = 0
        self._yield_timer: asyncio.Future[None] | None = None
        self._background: set[asyncio.Task[Any]] = set()
        self._running: set[str] = set()
        self._waiting: set[str] = set()
        self._held: set[str] = set()
        published = info.typed_search_attributes.get(sa.RUN_STATE)
        # the starter sets RunState=running; treat "not set" the same (no upsert at start)
        self._published_state = published or "running"
        for addr in self.statuses:
            self._track(addr, self.statuses.peek(addr).state)
        self.top = Frame(steps=list(self.plan.template.steps))
        self.register(self.top)
        self.run_info = {
            "id": self.run_id,
            "template": self.plan.name,
            "version": self.plan.version,
            "started_at": self.started_at,
        }

    # ------------------------------------------------------------------ frames & scope

    def register(self, frame: Frame) -> None:
        """Make a frame's steps known, `pending` (statuses carried over are kept)."""
        for step in frame.steps:
            addr = frame.address(step.id)
            self.kinds[addr] = step.kind
            if step.body():
                self.containers.add(addr)
            st = self.statuses.register(addr)
            if st is not None:
                self._track(addr, st.state)

    def frame_done(self, frame: Frame) -> bool:
        return all(
            frame.address(s.id) in self.statuses
            and self.statuses.peek(frame.address(s.id)).state in TERMINAL
            for s in frame.steps
        )

    def frame_failure(self, frame: Frame) -> tuple[str, str] | None:
        """(address, error) of the first non-optional failed step of a frame."""
        for s in frame.steps:
            addr = frame.address(s.id)
            st = self.statuses.peek(addr) if addr in self.statuses else None
            if st is not None and st.state == "failed" and not s.optional:
                return addr, st.error or "failed"
        return None

    def frame_outputs(self, frame: Frame) -> dict[str, Any]:
        return {s.id: self.statuses.peek(frame.address(s.id)).output for s in frame.steps}

    def scope(self, frame: Frame, **extra: Any) -> dict[str, Any]:
        base = {"input": self.inp.input, "vars": self.vars, "run": self.run_info}
        return scopes.build(base, self.statuses, frame, **extra)

    # ------------------------------------------------------------------ step state

    def set_state(self, address: str, state: str, **fields: Any) -> StepStatus:
        """Move a step to `state` (timestamps filled in), update fields, refresh the run state."""
        st = self.statuses[address]
        now = workflow.now()
        if state in ("running", "waiting") and st.started_at is None:
            st.started_at = now
        if state in TERMINAL and st.finished_at is None:
            st.finished_at = now
        st.state = state
        for k, v in fields.items():
            setattr(st, k, v)
        self._track(address, state)
        if state in TERMINAL:
            self.progress.pop(address, None)
            seconds = 0.0
            if st.started_at is not None:
                seconds = max(((st.finished_at or now) - st.started_at).total_seconds(), 0.0)
            kind = self.kinds.get(address, "unknown")
            self.emit(STEP_FINISHED, address, state=state, kind=kind, seconds=seconds)
        self.changed(address)
        return st

    def set_detail(self, address: str, detail: str) -> None:
        self.details[address] = detail
        if _top_level(address):
            status.publish_details(self, address)

    def _track(self, address: str, state: str) -> None:
        if state == "running" and address not in self.containers:
            self._running.add(address)
        else:
            self._running.discard(address)
        if state == "waiting":
            self._waiting.add(address)
        else:
            self._waiting.discard(address)
        if state == "held":
            self._held.add(address)
        else:
            self._held.discard(address)

    def run_state(self) -> str:
        if self.closed_state:
            return self.closed_state
        if self.paused:
            return "paused"
        if self._held:
            return "held"
        # `_running` first: while a step runs, the open tasks need not be listed
        if not self._running and (self._waiting or self.open_tasks()):
            return "waiting"
        return "running"

    def open_tasks(self) -> list[PendingTask]:
        """The status document's `pending`: `rt.pending` plus every plug-in source."""
        tasks = list(self.pending.values())
        for source in self.pending_sources:
            tasks.extend(source())
        return tasks

    def changed(self, address: str | None = None) -> None:
        """Recompute RunState (upserted only when it changes) and the Web UI details.

        `address`: the step that changed. A nested step refreshes the details table only
        when the run state changed (the table lists top-level steps).
        """
        for cb in self.on_change:
            cb()
        state = self.run_state()
        publish = address is None or _top_level(address)
        if self.closed_state is None and state != self._published_state:
            self._published_state = state
            publish = True
            if self.inp.test is None:  # a template test has no search attributes
                workflow.upsert_search_attributes([sa.RUN_STATE.value_set(state)])
            self.emit(RUN_STATE, state=state)
        if publish:
            status.publish_details(self, address)

    def status(self) -> RunStatus:
        return status.document(self)

    def emit(
        self, type: str, step: str | None = None, actor: str | None = None, **data: Any
    ) -> None:
        """Tell every listener what happened (workflows.engine.events)."""
        if self.listeners:
            event = RunEvent(type, step, actor, data)
            for listener in self.listeners:
                listener(event)


def _top_level(address: str) -> bool:
    return "[" not in address
