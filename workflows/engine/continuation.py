"""Continue-as-new and CPU budget for `Runtime` (a mixin; state lives on the runtime).

- `checkpoint()` is awaited before anything new starts (a step, and through the
  steps every foreach item / loop iteration): it honours pause, begins the
  continue-as-new drain and yields to the server after `STEPS_PER_ACTIVATION`
  in-memory step starts.
- Draining: once Temporal suggests continue-as-new or the history reaches
  `history_limit`, nothing new starts; the interpreter continues as new as soon as
  `ready_to_continue()` (no activity/child in flight, handlers finished, plug-ins idle)
  with `carry()` as `RunInput.carry`.
"""

from __future__ import annotations

import asyncio
import base64
import json
import zlib
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

import pydantic_core
from temporalio import workflow

from workflows.engine.io import StepStatus

# continue-as-new before history reaches this many events (or when Temporal suggests
# it); overridable per run with `RunInput.carry = {"options": {"history_limit": N}}`.
# By default the drain is reserved for (below), so no execution reaches the limit; a
# run with its own `history_limit` drains from the limit on unless it also sets
# `"reserve_drain": true` (kept so recorded histories replay unchanged)
HISTORY_LIMIT = 10_000
# events one in-flight activity/child costs while draining (started, completed and a
# workflow task of three), and what the continue-as-new itself costs, with margin
DRAIN_EVENTS_PER_CALL = 5
DRAIN_EVENTS_FIXED = 20
# in-memory step starts allowed in one workflow activation before a 1 ms timer yields,
# keeping every activation far below Temporal's 2 s deadlock detector
STEPS_PER_ACTIVATION = 500
CARRY_VERSION = 2


def pack(state: dict[str, Any]) -> str:
    """JSON, zlib, base64: long runs carry thousands of similar step statuses, which
    compress ~10x, keeping the continue-as-new input far below Temporal's 2 MB limit.
    Deterministic (same state, same bytes)."""
    return base64.b64encode(zlib.compress(pydantic_core.to_json(state), 6)).decode("ascii")


def unpack(carry: dict[str, Any] | None) -> dict[str, Any]:
    """The carried state (plus `options`); accepts packed and plain carries."""
    carry = dict(carry or {})
    packed = carry.pop("packed", None)
    if packed:
        carry.update(json.loads(zlib.decompress(base64.b64decode(packed))))
    return carry


class Continuation:
    # provided by Runtime
    cancelling: bool
    paused: bool
    history_limit: int
    generation: int
    options: dict[str, Any]
    started_at: datetime
    statuses: dict[str, StepStatus]
    vars: dict[str, Any]
    progress: dict[str, dict[str, Any]]
    ext: dict[str, Any]
    sla_level: str | None
    before_carry: list[Callable[[], None]]
    idle_checks: list[Callable[[], bool]]
    _inflight: int
    _draining: bool
    _budget_history: int
    _budget: int
    _yield_timer: asyncio.Future[None] | None
    wait_unpaused: Callable[[], Awaitable[None]]

    # ------------------------------------------------------------------ checkpoints

    async def checkpoint(self) -> bool:
        """Await before starting anything new: pause, continue-as-new drain, CPU budget.

        True when the start was deferred to a later workflow task (history moved on
        meanwhile), so the caller must look again at what happened in between.
        Nothing is awaited in the common case (not paused, no drain, budget left).
        """
        if self.cancelling:
            return False
        info = workflow.info()
        entered = info.get_current_history_length()
        waited = False
        if self.paused:
            await self.wait_unpaused()
            waited = True
        if not self._draining and self._should_continue(info):
            self._draining = True
        if self._draining:
            await workflow.wait_condition(lambda: not self._draining)
            waited = True
        if self._over_budget(info.get_current_history_length() if waited else entered):
            await self._yield_busy()
            waited = True
        return waited and info.get_current_history_length() != entered

    def _should_continue(self, info: workflow.Info) -> bool:
        length = info.get_current_history_length()
        if self.options.get("reserve_drain", "history_limit" not in self.options):
            # stop early enough that the drain (every call in flight finishing, one
            # activation each) and the continue-as-new still fit under the limit
            length += DRAIN_EVENTS_PER_CALL * self._inflight + DRAIN_EVENTS_FIXED
        return info.is_continue_as_new_suggested() or length >= self.history_limit

    def _over_budget(self, length: int) -> bool:
        """Count one step start against this activation's budget: after
        STEPS_PER_ACTIVATION of them, every further start waits for `_yield_busy`."""
        if length != self._budget_history:
            # the first activation of a run also pays the sandbox's imports: half budget
            first = self._budget_history == -1
            self._budget_history = length
            self._budget = STEPS_PER_ACTIVATION // 2 if first else 0
            self._yield_timer = None
        self._budget += 1
        return self._budget > STEPS_PER_ACTIVATION

    async def _yield_busy(self) -> None:
        """Wait for one shared 1 ms timer: the activation ends and the work continues in
        the next one (concurrent foreach items included)."""
        if self._yield_timer is None:
            self._yield_timer = asyncio.ensure_future(
                workflow.sleep(timedelta(milliseconds=1), summary="yield")
            )
        # shielded: a cancelled waiter must not cancel the timer the others share
        await asyncio.shield(self._yield_timer)

    @contextmanager
    def in_flight(self) -> Iterator[None]:
        """Wrap every activity / child workflow call: continue-as-new waits for them."""
        self._inflight += 1
        try:
            yield
        finally:
            self._inflight -= 1

    def ready_to_continue(self) -> bool:
        return (
            self._draining
            and not self.cancelling
            and self._inflight == 0
            and workflow.all_handlers_finished()
            and all(check() for check in self.idle_checks)
        )

    def carry(self) -> dict[str, Any]:
        """Everything a continue-as-new run needs to pick up where this one stopped.

        `options` stay readable; the rest is packed (see `pack`).
        """
        for cb in self.before_carry:
            cb()
        state = {
            "generation": self.generation + 1,
            "started_at": self.started_at.isoformat(),
            "statuses": {
                k: st.model_dump(mode="json", exclude_defaults=True)
                for k, st in self.statuses.items()
            },
            "vars": self.vars,
            "paused": self.paused,
            "progress": self.progress,
            "ext": self.ext,
            "sla_level": self.sla_level,
        }
        return {"v": CARRY_VERSION, "options": self.options, "packed": pack(state)}
