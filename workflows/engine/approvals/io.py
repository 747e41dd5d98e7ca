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
    """Result of `resolve_assignees`: concrete user ids (+ emails) and the roles as written."""

    users: list[str] = Field(default_factory=list)
    emails: list[str] = Field(default_factory=list)
    roles: list[str] = Field(default_factory=list)
    pick: str = "all"
    #: user ids named in the template but missing from the directory (kept as assignees)
    unknown: list[str] = Field(default_factory=list)


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
