"""Response (and action-test request) bodies of the testing endpoints (SPEC §13)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from workflows.engine.io import StepStatus


class TraceEntry(BaseModel):
    """One thing that happened in a test run: a run event, a mock answer, a skipped timer…"""

    at: str
    step: str | None = None
    event: str
    detail: dict[str, Any] | None = None


class TemplateTestResult(BaseModel):
    """`POST /templates/{name}/test`: the final status of the test run and its trace."""

    run_id: str
    template: str
    version: int
    state: str
    steps: dict[str, StepStatus]
    output: Any = None
    error: str | None = None
    trace: list[TraceEntry]
    #: wall time of the test run, start to end (ms)
    duration_ms: int


class ActionInfo(BaseModel):
    """An entry of `GET /actions`."""

    name: str
    description: str | None = None
    #: JSON Schema of the action's `with:` (field names as written in templates)
    params: dict[str, Any]
    #: `with:` fields that accept `secret:NAME` (SPEC §8)
    secret_fields: list[str]
    #: takes `connection: NAME` + `path` instead of `url`
    takes_connection: bool


class ActionTestRequest(BaseModel):
    """`POST /actions/{name}/test`: the `with:` of one call (literal values)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    with_: dict[str, Any] = Field(default_factory=dict, alias="with")
    #: a connection name (as `with.connection`): its base URL and credentials apply
    connection: str | None = None


class ActionTestResult(BaseModel):
    """What one call of the action gave: `ok` with its `output`, or the classified `error`."""

    ok: bool
    output: Any = None
    error: str | None = None
    #: the error's type (e.g. `HttpStatusError`, `EgressRefused`, `InvalidParams`)
    error_type: str | None = None
    #: whether a run would have retried it (the step's retry policy permitting)
    retryable: bool | None = None
    duration_ms: int
