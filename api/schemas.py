"""Request and response bodies of the HTTP API (SPEC §5)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from workflows.engine.io import PendingTask, RunStatus

RUN_ID = r"^[A-Za-z0-9._-]{1,200}$"
NAME = r"^[a-z0-9][a-z0-9-]*$"
TRIGGER_ID = r"^[A-Za-z0-9._-]{1,100}$"
SCHEDULE_ID = r"^[A-Za-z0-9._-]{1,150}$"
#: run tags become one `RunTags` search attribute, which Temporal caps at 2048 bytes
TAG_KEY_MAX, TAG_VALUE_MAX, TAGS_MAX_BYTES = 64, 256, 1800
TagKey = Annotated[str, StringConstraints(min_length=1, max_length=TAG_KEY_MAX)]
TagValue = Annotated[str, StringConstraints(max_length=TAG_VALUE_MAX)]


def tags_size(tags: dict[str, str]) -> int:
    """Bytes of the `RunTags` value as Temporal stores it (a JSON list of `key:value`)."""
    return len(json.dumps([f"{k}:{v}" for k, v in tags.items()], separators=(",", ":")))


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Health(BaseModel):
    status: str
    temporal: str
    database: str


class SavedTemplate(BaseModel):
    name: str
    version: int


class Finding(BaseModel):
    loc: str
    msg: str


class ValidationReport(BaseModel):
    valid: bool
    findings: list[Finding]


class TemplateInfo(BaseModel):
    name: str
    version: int
    description: str | None = None
    created_at: datetime
    created_by: str | None = None


class TemplateDetail(TemplateInfo):
    body: dict[str, Any] = Field(description="the template document as saved")
    owners: list[str] = Field(
        default_factory=list,
        description="users who may save new versions (besides admins); empty: admins only",
    )


UserId = Annotated[str, StringConstraints(min_length=1, max_length=200)]


class SetOwners(_In):
    users: list[UserId] = Field(
        max_length=100, description="the new owners (replaces the list); [] = admins only"
    )


class TemplateOwners(BaseModel):
    name: str
    owners: list[str]


class TemplateGraph(BaseModel):
    name: str
    version: int
    mermaid: str


class StartRun(_In):
    template: str = Field(pattern=NAME, max_length=100)
    version: int | None = Field(None, ge=1, le=2**31 - 1)
    input: dict[str, Any] = Field(default_factory=dict)
    run_id: str | None = Field(None, pattern=RUN_ID)
    tags: dict[TagKey, TagValue] = Field(
        default_factory=dict,
        max_length=20,
        description=f"at most 20; keys up to {TAG_KEY_MAX} characters, values up to "
        f"{TAG_VALUE_MAX}, {TAGS_MAX_BYTES} bytes in all (as a JSON list of key:value)",
    )

    @field_validator("tags")
    @classmethod
    def _tags_fit(cls, tags: dict[str, str]) -> dict[str, str]:
        size = tags_size(tags)
        if size > TAGS_MAX_BYTES:
            raise ValueError(
                f"tags are too long together: {size} bytes as a JSON list of key:value, "
                f"at most {TAGS_MAX_BYTES}"
            )
        return tags


class RunRef(BaseModel):
    run_id: str
    template: str
    version: int
    ui_url: str


class RunDetail(RunStatus):
    ui_url: str
    started_by: str | None = None
    tags: list[str] = Field(default_factory=list)


class RunSummary(BaseModel):
    """One run as Temporal visibility lists it (search attributes + execution status)."""

    run_id: str
    template: str | None
    version: int | None
    state: str
    started_by: str | None
    tags: list[str]
    started_at: datetime | None
    closed_at: datetime | None


class RunItem(RunSummary):
    ui_url: str


class RunPage(BaseModel):
    runs: list[RunItem]
    next_page_token: str | None = None


class Accepted(BaseModel):
    run_id: str
    action: str
    accepted: bool = True


class Decision(_In):
    outcome: str = Field(min_length=1, max_length=200)
    comment: str | None = Field(None, max_length=10_000)
    data: dict[str, Any] | None = None


class Reassign(_In):
    users: list[str] = Field(default_factory=list, max_length=100)
    roles: list[str] = Field(default_factory=list, max_length=100)


class RedriveRun(_In):
    version: int | None = Field(
        None, ge=1, le=2**31 - 1, description="a later version of the same template (default: the pinned one)"
    )


class Redriven(BaseModel):
    run_id: str
    redrive: int = Field(description="1 for the first redrive of the run, then 2, …")
    version: int


class Resolve(_In):
    action: Literal["retry", "skip", "fail"]
    with_: dict[str, Any] | None = Field(
        None, alias="with", description="retry: keys overriding the step's rendered `with:`"
    )
    output: Any = Field(None, description="skip: the step's output")
    comment: str | None = Field(None, max_length=10_000)


class InboxEntry(BaseModel):
    run_id: str
    template: str
    version: int
    ui_url: str
    pending: list[PendingTask]


class ScheduleIn(_In):
    id: str = Field(pattern=SCHEDULE_ID)
    template: str = Field(pattern=NAME, max_length=100)
    version: int | None = Field(None, ge=1, le=2**31 - 1)
    input: dict[str, Any] = Field(default_factory=dict)
    cron: str | None = Field(None, min_length=1, max_length=200)
    interval: str | None = Field(
        None, min_length=1, max_length=50, description="duration, e.g. 1h or PT15M"
    )
    timezone: str | None = Field(None, min_length=1, max_length=100)
    paused: bool = False


class ScheduleOut(BaseModel):
    id: str
    template: str | None = None
    version: int | None = None
    cron: list[str] = Field(default_factory=list)
    interval: list[str] = Field(default_factory=list)
    timezone: str | None = None
    paused: bool = False
    next_action_times: list[datetime] = Field(default_factory=list)


class TriggerIn(_In):
    id: str = Field(pattern=TRIGGER_ID)
    source: str = Field(pattern=TRIGGER_ID)
    when: str | None = Field(None, max_length=4096)
    template: str = Field(pattern=NAME, max_length=100)
    version: int | None = Field(None, ge=1, le=2**31 - 1)
    input: dict[str, Any] = Field(default_factory=dict)


class TriggerOut(BaseModel):
    id: str
    source: str
    when: str | None
    template: str
    version: int | None
    input: dict[str, Any]
    created_at: datetime
    created_by: str | None


class HookResult(BaseModel):
    runs: list[str]
    duplicate: bool = False
    skipped: list[Finding] = Field(default_factory=list)
