"""Background work and run control (pause, cancel, failing) of a run: `RunControl`.

A mixin of `workflows.engine.runtime.Runtime`, kept apart so the runtime stays about
run state. Workflow code only: deterministic, no I/O.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from contextlib import _GeneratorContextManager
from typing import Any

from temporalio import workflow

from workflows.engine.statuses import Statuses


class StepStopped(Exception):
    """A body stopped early because the run is failing (its step ends `cancelled`)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class RunControl:
    """Background tasks (`spawn`/`drain`), pause/resume, cancellation and held steps."""

    # provided by Runtime
    paused: bool
    cancelling: bool
    failing: str | None
    statuses: Statuses
    _draining: bool
    _background: set[asyncio.Task[Any]]
    _held: set[str]
    changed: Callable[..., None]
    in_flight: Callable[[], _GeneratorContextManager[None]]  # workflows.engine.continuation

    # ------------------------------------------------------------------ background work

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        """Run `coro` in the background (notifications, SLA effects): continue-as-new
        waits for it, and the run drains it before returning."""
        task = asyncio.create_task(self._background_call(coro))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _background_call(self, coro: Coroutine[Any, Any, Any]) -> None:
        with self.in_flight():
            await coro

    async def drain(self) -> None:
        """Wait for background work (called before the run returns)."""
        await workflow.wait_condition(lambda: not self._background)

    # ------------------------------------------------------------------ pause & cancel

    def pause(self) -> None:
        if not self.paused:
            self.paused = True
            self.changed()

    def resume(self) -> None:
        if self.paused:
            self.paused = False
            self.changed()

    async def wait_unpaused(self) -> None:
        """Block while the run is paused (cancellation overrides pause)."""
        if self.paused and not self.cancelling:
            await workflow.wait_condition(lambda: not self.paused or self.cancelling)

    def stop_if_failing(self) -> None:
        """Called by foreach/loop before each item/iteration: stop when the run is failing."""
        if self.failing is not None:
            raise StepStopped(f"stopped: the run is failing ({self.failing} failed)")

    def begin_cancel(self) -> None:
        self.cancelling = True
        self._draining = False

    def resumable(self, address: str) -> bool:
        """A step carried over in progress (running/waiting/held before continue-as-new)."""
        return address in self.statuses and self.statuses.peek(address).state in (
            "running",
            "waiting",
            "held",
        )

    def held(self) -> list[str]:
        """Addresses of the steps held as incidents now (SPEC §9)."""
        return sorted(self._held)

    @staticmethod
    def cancel_tasks(tasks: list[asyncio.Task[Any]]) -> None:
        for t in tasks:
            if not t.done():
                t.cancel()
