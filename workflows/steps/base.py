"""What every step runner gets (`StepContext`) and how it reports a failure (`StepFailure`).

A runner is `async def run(ctx: StepContext) -> Any`: it returns the step's `output`
or raises `StepFailure` (or lets an `ExpressionError` / Temporal `FailureError`
escape — the scheduler records all of these as the step's `error`). Anything else
escaping a runner is a bug: it fails the workflow task so it can be fixed and replayed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from workflows.io import StepStatus
from workflows.model import Step

if TYPE_CHECKING:
    from workflows.runtime import Frame, Runtime


class StepFailure(Exception):
    """The step failed with `message` (becomes `steps.<id>.error`)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class StepStopped(StepFailure):
    """The step stopped early because the run is failing (recorded as `cancelled`)."""


@dataclass
class StepContext:
    """One step execution: the runtime, where the step sits, and its carried progress."""

    rt: Runtime
    frame: Frame
    step: Step
    address: str
    # progress saved with `save_progress` before a continue-as-new (None on a fresh start)
    progress: dict[str, Any] | None = field(default=None)

    @property
    def status(self) -> StepStatus:
        return self.rt.statuses[self.address]

    @property
    def resuming(self) -> bool:
        """True when this step was already in progress before a continue-as-new."""
        return self.progress is not None

    def scope(self) -> dict[str, Any]:
        """The expression scope this step sees (its frame's steps, item/index/iteration)."""
        return self.rt.scope(self.frame)

    def save_progress(self, progress: dict[str, Any]) -> None:
        """JSON-able state to hand back to this step's runner after a continue-as-new."""
        self.rt.progress[self.address] = progress
        self.progress = progress

    def set_detail(self, detail: str) -> None:
        """A short text for the `detail` column of the Web UI's current-details table."""
        self.rt.set_detail(self.address, detail)
