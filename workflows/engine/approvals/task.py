"""One open approval task (SPEC §2 approval, §3, §7, §11): pure, deterministic state.

It decides eligibility (assignees, their delegates, `self_approval: false`), counts
votes per seat towards the quorum, and records every decision, reassignment,
hand-over and ignored signal. It does no I/O: `workflows.engine.approvals.state`
resolves assignees by activity, upserts the search attribute and sends notifications.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field
from temporalio.exceptions import ApplicationError

from workflows.engine.approvals.errors import ApprovalError, refuse
from workflows.engine.approvals.io import Resolved
from workflows.engine.approvals.records import (
    MAX_IGNORED,
    Ignored,
    Reassignment,
    Vote,
    form_errors,
    required_votes,
)
from workflows.engine.approvals.seats import Seating, handed_over, seating
from workflows.engine.io import DecideInput, PendingTask


class ApprovalTask(BaseModel):
    step: str
    outcomes: list[str]
    quorum: int | Literal["all"] = 1
    required: int = 1
    form: dict[str, Any] | None = None
    #: the deciders: seat owners, or their delegates (one entry per person)
    users: list[str] = Field(default_factory=list)
    emails: list[str] = Field(default_factory=list)
    roles: list[str] = Field(default_factory=list)
    pick: str = "all"
    #: the seats (one vote each; `all` counts them); None = `users` (tasks opened before)
    seats: list[str] | None = None
    #: seat owner -> the delegate deciding for them
    delegated: dict[str, str] = Field(default_factory=dict)
    #: decider -> email
    contacts: dict[str, str] = Field(default_factory=dict)
    #: `self_approval: false` keeps this user (the run's starter) from deciding
    starter_barred: str | None = None
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
            step=self.step,
            assignees=self.keys(),
            outcomes=list(self.outcomes),
            due_at=self.due_at,
            delegations=dict(self.delegated),
        )

    def seat_list(self) -> list[str]:
        return list(self.users) if self.seats is None else list(self.seats)

    def decider(self, seat: str) -> str:
        return self.delegated.get(seat, seat)

    def current_seating(self) -> Seating:
        """The seats as they stand (`seats`, `delegated`, the deciders and their contacts)."""
        return Seating(
            seats=self.seat_list(),
            delegated=dict(self.delegated),
            users=list(self.users),
            contacts=dict(self.contacts),
            emails=list(self.emails),
        )

    def stands_for(self) -> dict[str, list[str]]:
        """decider -> the seat owners they decide for (delegates only)."""
        out: dict[str, list[str]] = {}
        for seat, delegate in self.delegated.items():
            out.setdefault(delegate, []).append(seat)
        return out

    def output(self) -> dict[str, Any]:
        """The step's `output` (also shown while waiting, with `decision` null)."""
        out: dict[str, Any] = {
            "decision": self.decision,
            "decisions": [v.model_dump(mode="json") for v in self.votes],
        }
        if self.decided_by and self.decided_by != "quorum":
            out["decided_by"] = self.decided_by
        if self.delegated:
            out["delegations"] = dict(self.delegated)
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

    def check(self, d: DecideInput) -> str:
        """Raise the `ApplicationError` the update validator rejects `d` with, if any;
        else return the seat the vote counts for."""
        if self.decision is not None:
            refuse(
                ApprovalError.NOT_AWAITING,
                f"step {self.step!r} already has a decision ({self.decision})",
            )
        if self.starter_barred is not None and d.actor == self.starter_barred:
            refuse(
                ApprovalError.SELF_APPROVAL,
                f"{d.actor!r} started this run and step {self.step!r} does not allow "
                "self-approval (self_approval: false)",
            )
        seat = self.seat_for(d)
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
        return seat

    def seat_for(self, d: DecideInput) -> str:
        """The seat `d` votes for: `on_behalf_of` if given, else the actor's own seat,
        else the first seat delegated to the actor not yet voted; an admin who holds no
        seat votes as themself. Raises NotAssignee / AlreadyVoted."""
        voted = {v.seat for v in self.votes}
        if d.on_behalf_of and d.on_behalf_of != d.actor:
            if self.delegated.get(d.on_behalf_of) != d.actor:
                refuse(
                    ApprovalError.NOT_ASSIGNEE,
                    f"{d.actor!r} does not decide on behalf of {d.on_behalf_of!r} "
                    f"at step {self.step!r}",
                )
            if d.on_behalf_of in voted:
                refuse(
                    ApprovalError.ALREADY_VOTED,
                    f"{d.on_behalf_of!r} has already been decided for on step {self.step!r}",
                )
            return d.on_behalf_of
        mine = [s for s in self.seat_list() if self.decider(s) == d.actor]
        mine.sort(key=lambda s: s != d.actor)  # their own seat first
        if not mine:
            if not d.as_admin:
                refuse(
                    ApprovalError.NOT_ASSIGNEE,
                    f"{d.actor!r} is not an assignee of step {self.step!r}",
                )
            mine = [d.actor]  # an admin's vote counts once
        free = [s for s in mine if s not in voted]
        if not free:
            refuse(
                ApprovalError.ALREADY_VOTED,
                f"{d.actor!r} has already decided on step {self.step!r}",
            )
        return free[0]

    def vote(self, d: DecideInput, now: datetime) -> str | None:
        """Record an already-checked vote; returns the decision when the quorum settles it."""
        seat = self.seat_for(d)
        self.votes.append(
            Vote(
                actor=d.actor,
                outcome=d.outcome,
                comment=d.comment,
                data=d.data,
                at=now,
                as_admin=d.as_admin and d.actor not in self.users,
                on_behalf_of=seat if seat != d.actor else None,
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

    def time_out(self, on_timeout: str | None, now: datetime) -> None:
        """The approval timeout passed undecided: `on_timeout` decides, or (`fail`, the
        default) the decision stays None and the step fails."""
        outcome = on_timeout or "fail"
        if outcome == "fail":
            self.decided_by = "timeout"
        else:
            self.close(outcome, "timeout", now)

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

    def hand_over(self, actor: str, resolved: Resolved, now: datetime) -> None:
        """An assignee's own seat(s) go to the one user in `resolved` (SPEC §11); the
        count starts again, as for every reassignment."""
        handed = handed_over(self.current_seating(), actor, resolved, self.roles, self.pick)
        self.reassignments.append(
            Reassignment(
                actor=actor,
                users=[resolved.users[0]],
                at=now,
                reason="handover",
                discarded=self.votes,
            )
        )
        self.votes = []
        self._assign(handed)

    def _assign(self, resolved: Resolved) -> None:
        s = seating(resolved, self.starter_barred)
        self.seats, self.delegated, self.users = s.seats, s.delegated, s.users
        self.contacts, self.emails = s.contacts, s.emails
        self.roles, self.pick = list(resolved.roles), resolved.pick
        self.required = required_votes(self.quorum, len(s.seats))

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
        voted = {v.seat for v in self.votes}
        remaining = sum(1 for s in self.seat_list() if s not in voted)
        if all(counts[o] + remaining < self.required for o in self.outcomes[:-1]):
            return self.outcomes[-1]
        return None
