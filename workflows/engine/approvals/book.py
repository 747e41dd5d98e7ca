"""Human approval tasks of one run: pure, deterministic state (SPEC §2 approval, §3, §7).

`ApprovalBook` holds the run's open approval tasks, keyed by step address
(`manager_approval`, `review[2].sign_off`). It decides eligibility, counts votes
towards the quorum, records every decision / reassignment / ignored signal, and
produces the `pending` list and the `Assignees` search-attribute keys. It does no
I/O: `workflows.engine.approvals.state` resolves assignees by activity, upserts the
search attribute and sends notifications.

Everything here is a pydantic model so it snapshots into the interpreter's
`carry` for continue-as-new and restores exactly.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field
from temporalio.exceptions import ApplicationError

from workflows.engine.approvals.errors import ApprovalError, refuse
from workflows.engine.approvals.io import Resolved
from workflows.engine.io import DecideInput, PendingTask
from workflows.language import json_schemas

#: ignored signals kept per task (the oldest are dropped beyond this)
MAX_IGNORED = 50


class Vote(BaseModel):
    """One accepted decision (an entry of the step output's `decisions`)."""

    actor: str
    outcome: str
    comment: str | None = None
    data: dict[str, Any] | None = None
    at: datetime
    as_admin: bool = False


class Ignored(BaseModel):
    """A `decide` signal the workflow refused (forged/ineligible actor, second vote, ...)."""

    actor: str
    outcome: str
    at: datetime
    reason: str
    error: str
    #: set on the run-level list (signals naming no open task)
    step: str | None = None


class Reassignment(BaseModel):
    actor: str
    users: list[str] = Field(default_factory=list)
    roles: list[str] = Field(default_factory=list)
    at: datetime
    #: who asked: `request` (API / delegation) or `sla:<level>`
    reason: str = "request"
    #: votes of the previous round (a reassign starts the count again)
    discarded: list[Vote] = Field(default_factory=list)


class ApprovalTask(BaseModel):
    step: str
    outcomes: list[str]
    quorum: int | Literal["all"] = 1
    required: int = 1
    form: dict[str, Any] | None = None
    users: list[str] = Field(default_factory=list)
    emails: list[str] = Field(default_factory=list)
    roles: list[str] = Field(default_factory=list)
    pick: str = "all"
    opened_at: datetime
    due_at: datetime | None = None
    votes: list[Vote] = Field(default_factory=list)
    reassignments: list[Reassignment] = Field(default_factory=list)
    ignored: list[Ignored] = Field(default_factory=list)
    decision: str | None = None
    #: `quorum`, `timeout`, `sla:<level>`
    decided_by: str | None = None
    decided_at: datetime | None = None

    # -- views ---------------------------------------------------------------------

    def keys(self) -> list[str]:
        """`Assignees` keys of this task: resolved users, plus roles unless one member was picked."""
        keys = [f"user:{u}" for u in self.users]
        if self.pick != "least_loaded":
            keys += [f"role:{r}" for r in self.roles]
        return keys

    def pending(self) -> PendingTask:
        return PendingTask(
            step=self.step, assignees=self.keys(), outcomes=list(self.outcomes), due_at=self.due_at
        )

    def output(self) -> dict[str, Any]:
        """The step's `output` (also shown while waiting, with `decision` null)."""
        out: dict[str, Any] = {
            "decision": self.decision,
            "decisions": [v.model_dump(mode="json") for v in self.votes],
        }
        if self.decided_by and self.decided_by != "quorum":
            out["decided_by"] = self.decided_by
        if self.reassignments:
            out["reassignments"] = [r.model_dump(mode="json") for r in self.reassignments]
        if self.ignored:
            out["rejected_decisions"] = [
                i.model_dump(mode="json", exclude_none=True) for i in self.ignored
            ]
        return out

    def task_scope(self) -> dict[str, Any]:
        """`task` in SLA expressions: {step, assignees, emails, due_at}."""
        return {
            "step": self.step,
            "assignees": list(self.users),
            "emails": list(self.emails),
            "due_at": self.due_at.isoformat() if self.due_at else None,
        }

    # -- decisions -----------------------------------------------------------------

    def check(self, d: DecideInput) -> None:
        """Raise the `ApplicationError` the update validator rejects `d` with, if any."""
        if self.decision is not None:
            refuse(
                ApprovalError.NOT_AWAITING,
                f"step {self.step!r} already has a decision ({self.decision})",
            )
        if d.actor not in self.users and not d.as_admin:
            refuse(
                ApprovalError.NOT_ASSIGNEE, f"{d.actor!r} is not an assignee of step {self.step!r}"
            )
        if any(v.actor == d.actor for v in self.votes):
            refuse(
                ApprovalError.ALREADY_VOTED,
                f"{d.actor!r} has already decided on step {self.step!r}",
            )
        if d.outcome not in self.outcomes:
            refuse(
                ApprovalError.OUTCOME_NOT_ALLOWED,
                f"outcome {d.outcome!r} is not one of {', '.join(self.outcomes)} for step {self.step!r}",
            )
        if self.form is not None:
            errors = form_errors(self.form, d.data or {})
            if errors:
                refuse(
                    ApprovalError.INVALID_FORM,
                    f"data does not match the form of step {self.step!r}: {errors[0]['msg']}",
                    {"errors": errors},
                )

    def vote(self, d: DecideInput, now: datetime) -> str | None:
        """Record an already-checked vote; returns the decision when the quorum settles it."""
        self.votes.append(
            Vote(
                actor=d.actor,
                outcome=d.outcome,
                comment=d.comment,
                data=d.data,
                at=now,
                as_admin=d.as_admin and d.actor not in self.users,
            )
        )
        outcome = self._settled()
        if outcome is not None:
            self.close(outcome, "quorum", now)
        return outcome

    def ignore(self, d: DecideInput, err: ApplicationError, now: datetime) -> None:
        self.ignored.append(
            Ignored(
                actor=d.actor, outcome=d.outcome, at=now, reason=err.type or "", error=err.message
            )
        )
        del self.ignored[:-MAX_IGNORED]

    def close(self, outcome: str, by: str, now: datetime) -> None:
        if self.decision is None:
            self.decision, self.decided_by, self.decided_at = outcome, by, now

    def reassign(self, resolved: Resolved, actor: str, reason: str, now: datetime) -> None:
        """New assignees; the votes so far are discarded (kept in the record)."""
        self.reassignments.append(
            Reassignment(
                actor=actor,
                users=list(resolved.users),
                roles=list(resolved.roles),
                at=now,
                reason=reason,
                discarded=self.votes,
            )
        )
        self.votes = []
        self._assign(resolved)

    def _assign(self, resolved: Resolved) -> None:
        self.users, self.emails = list(resolved.users), list(resolved.emails)
        self.roles, self.pick = list(resolved.roles), resolved.pick
        self.required = required_votes(self.quorum, len(self.users))

    def _settled(self) -> str | None:
        """The outcome once it is certain.

        An outcome that collected `required` votes wins. Otherwise, when no outcome but
        the last one can still reach `required` with the assignees who have not voted,
        the last outcome is certain (it either reaches the quorum or wins as the
        fallback), so the step ends now instead of waiting for the remaining votes.
        """
        counts = Counter(v.outcome for v in self.votes)
        for outcome in self.outcomes:
            if counts[outcome] >= self.required:
                return outcome
        if len(self.outcomes) == 1:
            return None
        voted = {v.actor for v in self.votes}
        remaining = sum(1 for u in self.users if u not in voted)
        if all(counts[o] + remaining < self.required for o in self.outcomes[:-1]):
            return self.outcomes[-1]
        return None


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
    ) -> ApprovalTask:
        task = ApprovalTask(
            step=step,
            outcomes=list(outcomes),
            quorum=quorum,
            form=form,
            opened_at=now,
            due_at=due_at,
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


def required_votes(quorum: int | str, assignees: int) -> int:
    """Votes an outcome needs: the quorum, or every assignee for `all` (at least one)."""
    if quorum == "all":
        return max(1, assignees)
    return max(1, int(quorum))


def form_errors(schema: dict[str, Any], data: Any) -> list[dict[str, Any]]:
    """JSON-Schema errors of `data` as `[{loc, msg}]` (empty when valid), deterministic order."""
    try:
        errors = json_schemas.errors(schema, data)
    except Exception as exc:  # noqa: BLE001 - a broken form must not fail the workflow task
        # (save-time validation rejects such forms; never accept unchecked data)
        return [
            {"loc": ["form"], "msg": f"the step's form is not usable: {str(exc).splitlines()[0]}"}
        ]
    return [{"loc": ["data", *map(str, e.path), *_missing(e)], "msg": e.message} for e in errors]


def _missing(e: Any) -> list[str]:
    """The property a `required` error is about, so its loc names the field."""
    if e.validator != "required" or not isinstance(e.instance, dict):
        return []
    return [p for p in e.validator_value if p not in e.instance and repr(p) in e.message][:1]
