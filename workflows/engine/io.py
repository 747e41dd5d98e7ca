"""Shared contracts between the API, the workflow and the activities (SPEC §3, §5).

One input model per workflow / activity / signal / update, so fields can be added
compatibly. Everything here is plain pydantic: it crosses the Temporal data converter.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from workflows.language.compiler import CompiledTemplate
from workflows.language.model import contains_template

WORKFLOW_TYPE = "TemplateWorkflow"


@contains_template
class RunInput(BaseModel):
    """Input of `TemplateWorkflow`. The workflow id is the run id."""

    plan: CompiledTemplate
    input: dict[str, Any] = Field(default_factory=dict)
    # every template a `subflow` step reaches, pinned at start; key "name@version"
    subflows: dict[str, CompiledTemplate] = Field(default_factory=dict)
    # subflow steps without a `version` resolve through this: name -> pinned version
    subflow_versions: dict[str, int] = Field(default_factory=dict)
    started_by: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    # the non-secret part of every connection the run's steps name, pinned at start
    # (SPEC §8): name -> {name, base_url, headers, auth: {type, secret NAME, ...}}
    connections: dict[str, dict[str, Any]] = Field(default_factory=dict)
    # interpreter-owned state carried across continue-as-new (opaque to callers)
    carry: dict[str, Any] | None = None

    def connection_for(self, with_: dict[str, Any] | None) -> dict[str, Any] | None:
        """The pinned connection a step's `with:` names (`connection: NAME`), if any."""
        name = (with_ or {}).get("connection")
        return self.connections.get(name) if isinstance(name, str) else None


class DecideInput(BaseModel):
    """Payload of the `decide` signal and the `decide` update."""

    step: str
    outcome: str
    actor: str
    comment: str | None = None
    data: dict[str, Any] | None = None
    # set by the API when the actor decides as `admin` (recorded on the decision)
    as_admin: bool = False
    # the seat owner a delegate decides for (SPEC §11); unset = the workflow picks the
    # actor's own seat first, then the seats delegated to them, in assignee order
    on_behalf_of: str | None = None
    # set by the API: the update's validator refuses it after this time (`Expired`), so a
    # decision the API answered 504 for is never applied later (see api/services/updates.py)
    expires_at: datetime | None = None


class ControlInput(BaseModel):
    """Optional payload of the `pause` / `resume` signals: who asked.

    The workflow does not use it; it stays in the signal's history event, where the
    audit trail reads the actor. A signal without payload (Web UI, CLI) is still valid.
    """

    actor: str | None = None


class ReassignInput(BaseModel):
    """Payload of the `reassign` update (API) / signal."""

    step: str
    actor: str
    users: list[str] = Field(default_factory=list)
    roles: list[str] = Field(default_factory=list)
    # set by the API for `operator`/`admin` callers: any new assignees. Without it the
    # actor may only hand over their own seat to one user (SPEC §11 reassignment)
    as_operator: bool = False
    expires_at: datetime | None = None  # as DecideInput.expires_at


class ActionRequest(BaseModel):
    """What the workflow hands to every action activity (SPEC §4).

    `params` is the step's rendered `with:` (secrets still as `secret:NAME`);
    `idempotency_key` is stable across retries and worker restarts; `connection` is
    the pinned connection `params.connection` names (its secret is read by the worker).
    """

    run_id: str
    step: str
    idempotency_key: str
    params: dict[str, Any] = Field(default_factory=dict)
    connection: dict[str, Any] | None = None
    # set by the interpreter: the worker's AttemptInterceptor (workflows.engine.attempts) then
    # wraps the result with the attempt number; activities themselves ignore it
    report_attempt: bool = False


class StepStatus(BaseModel):
    state: str = "pending"
    attempts: int | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    output: Any = None
    error: str | None = None
    decision: str | None = None
    sla_level: str | None = None


class PendingTask(BaseModel):
    step: str
    assignees: list[str] = Field(default_factory=list)  # "user:<id>" / "role:<name>"
    outcomes: list[str] = Field(default_factory=list)
    due_at: datetime | None = None
    # seat owner -> the delegate who decides in their place (SPEC §11 delegation)
    delegations: dict[str, str] = Field(default_factory=dict)


class RunStatus(BaseModel):
    """The run status document of SPEC §5 (the `status` query and `GET /runs/{id}`)."""

    run_id: str
    template: str
    version: int
    state: str
    started_at: datetime | None = None
    closed_at: datetime | None = None
    steps: dict[str, StepStatus] = Field(default_factory=dict)
    pending: list[PendingTask] = Field(default_factory=list)
    output: Any = None
    error: str | None = None
    sla_level: str | None = None
