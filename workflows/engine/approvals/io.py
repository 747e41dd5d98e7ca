"""Payloads of the approval activities (`resolve_assignees`, `notify_task`).

Kept on the workflow side (no I/O, no settings) so workflow code imports them
without pulling activity modules into the sandbox.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field


class ResolveRequest(BaseModel):
    run_id: str
    step: str
    users: list[str] = Field(default_factory=list)
    roles: list[str] = Field(default_factory=list)
    pick: Literal["all", "least_loaded"] = "all"


class Resolved(BaseModel):
    """Result of `resolve_assignees`: concrete user ids (+ emails) and the roles as written.

    `users` are the seats (the people the task is for); `delegated` maps a seat whose
    owner is away (SPEC §11 delegation) to the user who decides in their place (the end
    of the delegation chain); `contacts` maps every decider to their email address.
    """

    users: list[str] = Field(default_factory=list)
    emails: list[str] = Field(default_factory=list)
    roles: list[str] = Field(default_factory=list)
    pick: str = "all"
    #: user ids named in the template but missing from the directory (kept as assignees)
    unknown: list[str] = Field(default_factory=list)
    #: seat owner -> the delegate who decides for them (absent: the owner decides)
    delegated: dict[str, str] = Field(default_factory=dict)
    #: decider -> email (deciders without an email are absent)
    contacts: dict[str, str] = Field(default_factory=dict)


class TaskNotice(BaseModel):
    """Input of `notify_task`: a task opened, was reassigned or decided."""

    kind: Literal["opened", "reassigned", "decided"]
    run_id: str
    step: str
    idempotency_key: str
    template: str | None = None
    emails: list[str] = Field(default_factory=list)
    outcomes: list[str] = Field(default_factory=list)
    due_at: datetime | None = None
    decision: str | None = None
    actor: str | None = None
    #: decider -> email: `opened`/`reassigned` notices go to each one separately, with
    #: their own signed decision links (SPEC §11); empty = one message to `emails`
    recipients: dict[str, str] = Field(default_factory=dict)
    #: decider -> the seat owners they stand in for (shown in the message)
    on_behalf_of: dict[str, list[str]] = Field(default_factory=dict)
