"""What an approval task records: votes, ignored signals, reassignments; form checks.

Pydantic models, so they snapshot into the interpreter's carry for continue-as-new.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from workflows.language import json_schemas

MAX_IGNORED = 50


class Vote(BaseModel):
    """One accepted decision (an entry of the step output's `decisions`)."""

    actor: str
    outcome: str
    comment: str | None = None
    data: dict[str, Any] | None = None
    at: datetime
    as_admin: bool = False
    #: the seat owner a delegate decided for (SPEC §11 delegation)
    on_behalf_of: str | None = None

    @property
    def seat(self) -> str:
        return self.on_behalf_of or self.actor


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
    #: who asked: `request` (operator/admin), `handover` (an assignee's own seat) or `sla:<level>`
    reason: str = "request"
    #: votes of the previous round (a reassign starts the count again)
    discarded: list[Vote] = Field(default_factory=list)


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
