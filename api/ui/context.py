"""What a person needs to see before deciding: the run's context and the step's form.

Read from Temporal: the `status` query (state, pending task, decisions so far) and
the run's start input (template and the run input). Shared by `/ui` and `/d/*`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from temporalio.client import Client

from api.services import runs, starting
from api.services.temporal_errors import is_open
from workflows.engine.io import PendingTask, StepStatus
from workflows.kinds.approval import Approval, ApprovalStep
from workflows.language.model import StepBase, Template

_INDEX = re.compile(r"\[\d+\]")


def find_step(template: Template, address: str) -> StepBase | None:
    """The step at `address` (`review[2].sign_off` → foreach/loop body steps)."""
    steps: list[StepBase] = list(template.steps)
    found: StepBase | None = None
    for part in _INDEX.sub("", address).split("."):
        found = next((s for s in steps if s.id == part), None)
        if found is None:
            return None
        steps = found.body()
    return found


@dataclass
class Vote:
    actor: str
    outcome: str
    at: str
    comment: str | None = None
    on_behalf_of: str | None = None
    as_admin: bool = False


@dataclass
class TaskView:
    run_id: str
    step: str
    template: str
    version: int
    run_state: str
    step_state: str
    input: dict[str, Any]
    started_by: str | None = None
    step_name: str | None = None
    approval: Approval | None = None
    pending: PendingTask | None = None
    decision: str | None = None
    votes: list[Vote] = field(default_factory=list)

    @property
    def open(self) -> bool:
        return self.pending is not None

    @property
    def outcomes(self) -> list[str]:
        if self.pending is not None:
            return list(self.pending.outcomes)
        return list(self.approval.outcomes) if self.approval else []

    @property
    def form(self) -> dict[str, Any] | None:
        return self.approval.form if self.approval else None

    def vote_of(self, user: str) -> Vote | None:
        """The vote `user` cast (as themself or for someone), if any."""
        return next((v for v in self.votes if v.actor == user), None)

    def decides(self, user: str, keys: list[str]) -> bool:
        """Whether the open task lists `user` (directly, by a delegation, or by role)."""
        if self.pending is None:
            return False
        if f"user:{user}" in self.pending.assignees:
            return True
        away = user in self.pending.delegations
        return not away and bool(set(keys).intersection(self.pending.assignees))

    def on_behalf_for(self, user: str) -> list[str]:
        if self.pending is None:
            return []
        return [s for s, d in self.pending.delegations.items() if d == user]


def _votes(st: StepStatus | None) -> list[Vote]:
    out = st.output if st is not None and isinstance(st.output, dict) else {}
    votes = []
    for v in out.get("decisions") or []:
        if isinstance(v, dict):
            votes.append(
                Vote(
                    actor=str(v.get("actor")),
                    outcome=str(v.get("outcome")),
                    at=_when(v.get("at")),
                    comment=v.get("comment"),
                    on_behalf_of=v.get("on_behalf_of"),
                    as_admin=bool(v.get("as_admin")),
                )
            )
    return votes


def _when(value: Any) -> str:
    """`2026-12-01 10:15 UTC` from an RFC 3339 string (as shown to people)."""
    try:
        at = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return str(value)
    return at.strftime("%Y-%m-%d %H:%M:%S UTC")


async def load(client: Client, run_id: str, step: str) -> TaskView:
    """The task view; raises NotFound for an unknown run (from `runs.status`)."""
    doc, desc = await runs.status(client, run_id)
    started = await starting.existing_input(client, run_id)
    approval = None
    name = None
    if started is not None:
        found = find_step(started.plan.template, step)
        if isinstance(found, ApprovalStep):
            approval, name = found.approval, found.name
    st = doc.steps.get(step)
    pending = next((p for p in doc.pending if p.step == step), None) if is_open(desc) else None
    return TaskView(
        run_id=run_id,
        step=step,
        template=doc.template,
        version=doc.version,
        run_state=doc.state,
        step_state=st.state if st is not None else "unknown",
        input=started.input if started is not None else {},
        started_by=started.started_by if started is not None else None,
        step_name=name,
        approval=approval,
        pending=pending,
        decision=st.decision if st is not None else None,
        votes=_votes(st),
    )
