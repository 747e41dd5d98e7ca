"""Shared contracts between the API, the workflow and the activities (SPEC §3, §5).

One input model per workflow / activity / signal / update, so fields can be added
compatibly. Everything here is plain pydantic: it crosses the Temporal data converter.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import (
    BaseModel,
    Field,
    SerializerFunctionWrapHandler,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_serializer,
)

from workflows.engine.testplan import TestPlan
from workflows.language.compact import compact
from workflows.language.compiler import CompiledTemplate, shared_plan
from workflows.language.model import contains_template

WORKFLOW_TYPE = "TemplateWorkflow"


class StepStatus(BaseModel):
    state: str = "pending"
    attempts: int | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    output: Any = None
    error: str | None = None
    decision: str | None = None
    sla_level: str | None = None
    #: kept from the execution a redrive continues (SPEC §9): the step did not run again
    carried: bool = False
    #: times the step was held (`on_failure: hold`) and how each was resolved
    incidents: list[Incident] | None = None
    #: foreach: indices of the failed items (within `tolerated_failures`, or the step failed)
    failed_items: list[int] | None = None
    #: foreach/loop: finished items/iterations summarised (workflows.engine.bodies)
    body: BodySummary | None = None


class BodySummary(BaseModel):
    """The finished items (foreach) or iterations (loop) of a step with a body.

    Only the most recent finished bodies (and the first failed ones) keep their nested
    step statuses in the status document; the others are `pruned` and counted here, so
    a 30,000-iteration loop's status document stays small (workflows.engine.bodies).
    """

    #: finished items/iterations by outcome (`succeeded`, `failed`)
    counts: dict[str, int] = Field(default_factory=dict)
    #: how many finished items/iterations no longer list their nested steps
    pruned: int = 0
    #: what the `set` steps of pruned bodies wrote (oldest first), for a redrive's `vars`
    vars: dict[str, Any] | None = None
    #: a failed/cancelled foreach: index -> output of each pruned item that succeeded,
    #: so a redrive keeps it (a succeeded foreach has them in its `output`)
    outputs: dict[int, Any] | None = None


class Incident(BaseModel):
    """One hold of a step (SPEC §9) and its resolution (who, what, when)."""

    held_at: datetime
    error: str | None = None
    attempts: int | None = None
    action: str | None = None  # retry | skip | fail, once resolved
    actor: str | None = None
    comment: str | None = None
    with_: dict[str, Any] | None = Field(None, alias="with")
    resolved_at: datetime | None = None

    model_config = {"populate_by_name": True, "serialize_by_alias": True}


class RedriveInput(BaseModel):
    """What a redrive carries from the execution it continues (SPEC §9), built by the API
    from that execution's final status document (`workflows.engine.redrive.plan`)."""

    #: 1 for the first redrive of a run, 2 for the next, ...
    count: int = 1
    actor: str | None = None
    #: the Temporal execution (run id) this redrive continues
    previous: str | None = None
    #: carried step statuses by address (`carried: true`): these steps do not run again
    steps: dict[str, StepStatus] = Field(default_factory=dict)
    #: `vars` as the carried `set` steps left them
    vars: dict[str, Any] = Field(default_factory=dict)
    #: loop address -> the iteration it resumes at (the one that failed)
    loops: dict[str, int] = Field(default_factory=dict)
    #: foreach address -> index -> output of the pruned items that succeeded (they do not
    #: run again; items still listed are carried through `steps`)
    items: dict[str, dict[int, Any]] = Field(default_factory=dict)
    #: subflow step address -> the redrive of its failed child run
    children: dict[str, RedriveInput] = Field(default_factory=dict)


class PinnedSubscription(BaseModel):
    """An event subscription (SPEC §14) as a run pinned it at start.

    `target`: `{url, secret?}` | `{connection, path?, secret?}` | `{action, with}`
    (`secret`: a secret NAME, read by the worker at delivery time); `connection`:
    the non-secret part of the target's connection, pinned like the steps' (SPEC §8).
    """

    id: str
    events: list[str] = Field(default_factory=list)
    template: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    target: dict[str, Any] = Field(default_factory=dict)
    connection: dict[str, Any] | None = None


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
    # set on a redrive (SPEC §9): what the previous execution leaves to this one
    redrive: RedriveInput | None = None
    # a template test (SPEC §13; workflows.engine.testmode): mocks, scripted decisions,
    # no timers or notifications. None for every real run
    test: TestPlan | None = None
    # event subscriptions (SPEC §14) that matched the run's templates and tags at start;
    # carried to continue-as-new, subflow children and redrives (empty: nothing delivered)
    subscriptions: list[PinnedSubscription] = Field(default_factory=list)

    @field_validator("plan", mode="wrap")
    @classmethod
    def _shared_plan(cls, value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        """A decoded start input's plan is shared by the runs of that plan
        (`workflows.language.compiler.shared_plan`)."""
        if type(value) is dict:
            return shared_plan(value)
        return handler(value)

    @field_validator("subflows", mode="wrap")
    @classmethod
    def _shared_subflows(cls, value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        """The pinned child plans are shared the same way as `plan`."""
        if type(value) is dict and all(
            type(k) is str and type(v) is dict for k, v in value.items()
        ):
            return {k: shared_plan(v) for k, v in value.items()}
        return handler(value)

    @model_serializer(mode="wrap")
    def _compact(self, handler: SerializerFunctionWrapHandler) -> Any:
        """The start event's payload without absent fields (`workflows.language.compact`);
        the plans compact themselves."""
        data = handler(self)
        compact(self, data, deep=False)
        if self.redrive is not None and isinstance(data.get("redrive"), dict):
            compact(self.redrive, data["redrive"])
        return data

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


class ResolveInput(BaseModel):
    """Payload of the `resolve` update: what an operator decides about a held step."""

    step: str
    action: Literal["retry", "skip", "fail"]
    actor: str
    #: retry: keys that override the step's rendered `with:` for that retry
    with_: dict[str, Any] | None = Field(None, alias="with")
    #: skip: the step's output
    output: Any = None
    comment: str | None = None
    expires_at: datetime | None = None  # as DecideInput.expires_at

    model_config = {"populate_by_name": True, "serialize_by_alias": True}


class PendingTask(BaseModel):
    step: str
    assignees: list[str] = Field(default_factory=list)  # "user:<id>" / "role:<name>"
    outcomes: list[str] = Field(default_factory=list)
    due_at: datetime | None = None
    # seat owner -> the delegate who decides in their place (SPEC §11 delegation)
    delegations: dict[str, str] = Field(default_factory=dict)


class RunPending(BaseModel):
    """The `pending` query: what an inbox needs of a run — its open approval tasks —
    without the whole status document (one query per listed run, so it stays small)."""

    template: str
    version: int
    pending: list[PendingTask] = Field(default_factory=list)


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
    #: the address of the step whose failure failed the run (nested: `fe[3].call`)
    failed_step: str | None = None
    #: 0 for the first execution of the run, then 1, 2, … per redrive (SPEC §9)
    redrive: int = 0
