"""Request and response bodies of SPEC §11 (delegation, bulk decisions)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DelegationIn(_In):
    to: str = Field(min_length=1, max_length=200, description="the directory user standing in")
    until: datetime | None = Field(
        None, description="end of the delegation (RFC 3339; no offset = UTC); none = until removed"
    )


class DelegationOut(BaseModel):
    user: str
    to: str | None = None
    until: datetime | None = None
    #: true while tasks that resolve to `user` go to `to`
    active: bool = False
    #: `self` (PUT /me/delegation) or `directory` (the directory file's `delegate:`)
    source: Literal["self", "directory"] | None = None


class BulkItem(_In):
    run_id: str = Field(min_length=1, max_length=200)
    step: str = Field(min_length=1, max_length=300)
    outcome: str = Field(min_length=1, max_length=200)
    comment: str | None = Field(None, max_length=10_000)
    data: dict[str, Any] | None = None


class BulkDecisions(_In):
    decisions: list[BulkItem] = Field(min_length=1, max_length=100)


class BulkResult(BaseModel):
    run_id: str
    step: str
    #: the HTTP status the single decision endpoint would have answered
    status: int
    error: str | None = None
    detail: str | None = None
    #: on 200: the step's decision once settled (null while more votes are needed)
    decision: str | None = None
    state: str | None = None


class BulkResults(BaseModel):
    results: list[BulkResult]
