"""What every step runner gets (`StepContext`) and how it reports a failure (`StepFailure`).

A runner is `async def run(ctx: StepContext, step: <the kind's model>) -> Any`: it
returns the step's `output` or raises `StepFailure` (or lets an `ExpressionError` /
Temporal `FailureError` escape — the scheduler records all of these as the step's
`error`). Anything else escaping a runner is a bug: it fails the workflow task so it
can be fixed and replayed. The scheduler has already set the step `running`,
checked pause, `run_if` and `when`; it marks `succeeded`/`failed`/`cancelled` after.

What a runner may use besides the context's helpers: `ctx.rt.set_state(address,
"waiting", ...)` while on people; `with ctx.rt.in_flight(): await
workflow.execute_activity(...)` around every activity/child call (continue-as-new
waits for them); `ctx.rt.spawn(coro)` for background work; `ctx.rt.plugins[...]`
for plug-in state (approvals).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from workflows.engine.frame import Frame
from workflows.engine.io import StepStatus
from workflows.engine.runtime import Runtime
from workflows.language.model import StepBase

#: runs one frame to its end: (address, error) of its failure, None on success
BodyRunner = Callable[[Frame], Coroutine[Any, Any, tuple[str, str] | None]]


class StepFailure(Exception):
    """The step failed with `message` (becomes `steps.<id>.error`)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass
class StepContext:
    """One step execution: the runtime, where the step sits, and its carried progress."""

    rt: Runtime
    frame: Frame
    step: StepBase
    address: str
    #: runs a nested frame (a foreach item, a loop iteration) on the scheduler
    run_body: BodyRunner
    #: progress saved with `save_progress` before a continue-as-new (None on a fresh start)
    progress: dict[str, Any] | None = field(default=None)
    #: keys overriding the step's rendered `with:` (a held step retried with patched
    #: arguments, workflows.engine.incidents); None otherwise
    overrides: dict[str, Any] | None = field(default=None)

    @property
    def status(self) -> StepStatus:
        return self.rt.statuses[self.address]

    @property
    def resuming(self) -> bool:
        """True when this step was already in progress before a continue-as-new."""
        return self.progress is not None

    def scope(self, **extra: Any) -> dict[str, Any]:
        """The expression scope this step sees (its frame's steps, item/index/iteration)."""
        return self.rt.scope(self.frame, **extra)

    def body_frame(self, index: int, extra: dict[str, Any], steps: list[StepBase]) -> Frame:
        """The frame of item/iteration `index` of this step's body."""
        return self.frame.child(self.address, index, extra, steps)

    def save_progress(self, progress: dict[str, Any]) -> None:
        """JSON-able state to hand back to this step's runner after a continue-as-new."""
        self.rt.progress[self.address] = progress
        self.progress = progress

    def set_detail(self, detail: str) -> None:
        """A short text for the `detail` column of the Web UI's current-details table."""
        self.rt.set_detail(self.address, detail)
