"""The open approval tasks of one run (`ApprovalBook`): pure, deterministic state.

Tasks are keyed by step address (`manager_approval`, `review[2].sign_off`); each is an
`ApprovalTask` (workflows.engine.approvals.task). The book produces the `pending`
list and the `Assignees` search-attribute keys (the union over undecided tasks).

Everything here is a pydantic model so it snapshots into the interpreter's
`carry` for continue-as-new and restores exactly.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from workflows.engine.approvals.errors import ApprovalError, refuse
from workflows.engine.approvals.io import Resolved
from workflows.engine.approvals.task import ApprovalTask
from workflows.engine.io import PendingTask


class ApprovalBook(BaseModel):
    """The open approval tasks of one run (and what was last published as `Assignees`)."""

    tasks: dict[str, ApprovalTask] = Field(default_factory=dict)
    published: list[str] | None = None

    def open(
        self,
        step: str,
        *,
        outcomes: list[str],
        quorum: int | Literal["all"],
        form: dict[str, Any] | None,
        resolved: Resolved,
        now: datetime,
        due_at: datetime | None,
        starter_barred: str | None = None,
    ) -> ApprovalTask:
        task = ApprovalTask(
            step=step,
            outcomes=list(outcomes),
            quorum=quorum,
            form=form,
            opened_at=now,
            due_at=due_at,
            starter_barred=starter_barred,
        )
        task._assign(resolved)
        self.tasks[step] = task
        return task

    def get(self, step: str) -> ApprovalTask | None:
        return self.tasks.get(step)

    def waiting(self, step: str) -> ApprovalTask:
        """The open, undecided task at `step`, else NotAwaitingDecision."""
        task = self.tasks.get(step)
        if task is None or task.decision is not None:
            refuse(ApprovalError.NOT_AWAITING, f"step {step!r} is not awaiting a decision")
        return task

    def remove(self, step: str) -> ApprovalTask | None:
        return self.tasks.pop(step, None)

    def keys(self) -> list[str]:
        """The `Assignees` value: the union over undecided tasks, sorted."""
        keys: set[str] = set()
        for task in self.tasks.values():
            if task.decision is None:
                keys.update(task.keys())
        return sorted(keys)

    def pending(self) -> list[PendingTask]:
        return [t.pending() for t in self.tasks.values() if t.decision is None]

    def snapshot(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    @classmethod
    def restore(cls, data: dict[str, Any] | None) -> ApprovalBook:
        return cls.model_validate(data) if data else cls()
