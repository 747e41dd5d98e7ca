"""The template language (SPEC §2) as pydantic models: what users write in YAML or JSON.

Models mirror the document shape so validation errors point at the place the user
typed (`steps[3].approval.quorum`). Cross-field rules (exactly one kind per step,
DAG shape, expressions) live in `workflows.validate`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from workflows.durations import parse_duration


def _check_duration(value: str) -> str:
    parse_duration(value)  # raises DurationError (a ValueError) with a readable message
    return value


Duration = Annotated[str, AfterValidator(_check_duration)]
StepId = Annotated[str, Field(pattern=r"^[a-z_][a-z0-9_]*$", max_length=100)]
TemplateName = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]*$", max_length=100)]
RunIf = Literal["all_succeeded", "none_failed", "any_succeeded", "all_done"]
STEP_KINDS = ("action", "approval", "gate", "wait", "set", "foreach", "loop", "subflow", "fail")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=False)


class Retry(_Strict):
    """Maps onto Temporal's RetryPolicy."""

    max_attempts: int = Field(3, ge=1)
    initial_interval: Duration = "1s"
    backoff: float = Field(2.0, ge=1.0)
    max_interval: Duration = Field("1m", validate_default=True)
    non_retryable: list[str] = Field(default_factory=list)

    @field_validator("max_interval")
    @classmethod
    def _not_below_initial(cls, value: str, info: ValidationInfo) -> str:
        # Temporal refuses such a RetryPolicy at run time; say so at save time instead
        initial = info.data.get("initial_interval")
        if initial is not None and parse_duration(value) < parse_duration(initial):
            raise ValueError(
                f"max_interval {value!r} is shorter than initial_interval {initial!r}; "
                "raise max_interval or lower initial_interval"
            )
        return value


class Assignees(_Strict):
    users: list[str] = Field(default_factory=list)
    roles: list[str] = Field(default_factory=list)
    pick: Literal["all", "least_loaded"] = "all"


class Notify(_Strict):
    action: str
    with_: dict[str, Any] = Field(default_factory=dict, alias="with")


class SlaLevel(_Strict):
    after: Duration
    level: str
    notify: Notify | None = None
    reassign: Assignees | None = None
    decide: str | None = None


class Approval(_Strict):
    assignees: Assignees
    quorum: int | Literal["all"] = 1
    outcomes: list[str] = Field(default_factory=lambda: ["approved", "rejected"], min_length=1)
    form: dict[str, Any] | None = None
    timeout: Duration | None = None
    on_timeout: str | None = None
    #: false: the run's starter may not decide this step (separation of duties, SPEC §11)
    self_approval: bool = True


class Gate(_Strict):
    check: str
    on_fail: Literal["continue", "pause", "abort"] = "abort"


class Wait(_Strict):
    duration: Duration | None = None
    until: str | None = None


class Foreach(_Strict):
    items: str
    steps: list[Step] = Field(min_length=1)
    concurrency: int = Field(10, ge=1, le=1000)


class Loop(_Strict):
    steps: list[Step] = Field(min_length=1)
    until: str
    max_iterations: int = Field(ge=1, le=100_000)


class Subflow(_Strict):
    template: TemplateName
    version: int | None = Field(None, ge=1)
    input: dict[str, Any] = Field(default_factory=dict)


class Fail(_Strict):
    message: str


class Step(_Strict):
    id: StepId
    name: str | None = None
    depends_on: list[str] = Field(default_factory=list)
    when: str | None = None
    run_if: RunIf = "all_succeeded"
    retry: Retry | None = None
    timeout: Duration | None = None
    optional: bool = False
    sla: list[SlaLevel] = Field(default_factory=list)
    # exactly one of the kind keys below (checked in workflows.validate)
    action: str | None = None
    with_: dict[str, Any] | None = Field(None, alias="with")
    approval: Approval | None = None
    gate: Gate | None = None
    wait: Wait | None = None
    set_: dict[str, Any] | None = Field(None, alias="set")
    foreach: Foreach | None = None
    loop: Loop | None = None
    subflow: Subflow | None = None
    fail: Fail | None = None

    @property
    def kind(self) -> str:
        """The step's kind key; `action` when several or none are set (validation reports that)."""
        for k in STEP_KINDS:
            if getattr(self, "set_" if k == "set" else k) is not None:
                return k
        return "action"

    @property
    def body(self) -> list[Step] | None:
        """Nested steps of a foreach/loop, else None."""
        if self.foreach is not None:
            return self.foreach.steps
        if self.loop is not None:
            return self.loop.steps
        return None


class Template(_Strict):
    name: TemplateName
    description: str | None = None
    input_schema: dict[str, Any] | None = None
    sla: list[SlaLevel] = Field(default_factory=list)
    steps: list[Step] = Field(min_length=1)
    outputs: dict[str, Any] = Field(default_factory=dict)


Foreach.model_rebuild()
Loop.model_rebuild()
