"""`Frame`: one DAG being scheduled — the top-level steps, or one foreach item / loop iteration."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from workflows.language.model import StepBase


@dataclass
class Frame:
    steps: list[StepBase]
    prefix: str = ""  # "" at top level, "<parent>[<i>]." inside a body
    extra: dict[str, Any] = field(default_factory=dict)  # item/index or iteration
    parent: Frame | None = None
    # a step of this frame was held back by a failure while it waited at a checkpoint
    held_back: bool = False

    def address(self, step_id: str) -> str:
        return self.prefix + step_id

    def child(
        self, address: str, index: int, extra: dict[str, Any], steps: list[StepBase]
    ) -> Frame:
        """The frame of item/iteration `index` of the body of the step at `address`."""
        return Frame(steps=steps, prefix=f"{address}[{index}].", extra=extra, parent=self)

    def chain(self) -> list[Frame]:
        """The frames from the top level down to this one."""
        frames: list[Frame] = []
        cur: Frame | None = self
        while cur is not None:
            frames.append(cur)
            cur = cur.parent
        return frames[::-1]
