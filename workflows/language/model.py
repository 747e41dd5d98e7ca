"""The template language (SPEC §2) as pydantic models: what users write in YAML or JSON.

This module holds what every template shares: the root `Template`, the fields common
to every step (`StepBase`), retry, SLA levels and assignees. Each step kind adds its
own model in `workflows/kinds/<kind>.py` (a `StepBase` subclass with the kind key as
a required field); `workflows.language.kinds` joins them into the `AnyStep` union,
chosen by the one kind key a step has.

Models mirror the document shape so validation errors point at the place the user
typed (`steps[3].approval.quorum`). Cross-field rules live in the validator.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, TypeVar, Union

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    GetCoreSchemaHandler,
    Tag,
    ValidationInfo,
    field_validator,
)
from pydantic_core import CoreSchema

from workflows.language.durations import parse_duration


def _check_duration(value: str) -> str:
    parse_duration(value)  # raises DurationError (a ValueError) with a readable message
    return value


Duration = Annotated[str, AfterValidator(_check_duration)]
StepId = Annotated[str, Field(pattern=r"^[a-z_][a-z0-9_]*$", max_length=100)]
TemplateName = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]*$", max_length=100)]
RunIf = Literal["all_succeeded", "none_failed", "any_succeeded", "all_done"]
#: what a step does once its retries are exhausted (SPEC §9 incidents): `fail` the step,
#: or `hold` it for an operator to resolve (retry / skip / fail)
OnFailure = Literal["fail", "hold"]


class Strict(BaseModel):
    """Unknown fields are errors everywhere in a template."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Retry(Strict):
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


class Assignees(Strict):
    """Who an approval (or an SLA `reassign`) goes to."""

    users: list[str] = Field(default_factory=list)
    roles: list[str] = Field(default_factory=list)
    pick: Literal["all", "least_loaded"] = "all"


class Notify(Strict):
    action: str
    with_: dict[str, Any] = Field(default_factory=dict, alias="with")


class SlaLevel(Strict):
    after: Duration
    level: str
    notify: Notify | None = None
    reassign: Assignees | None = None
    decide: str | None = None


class StepBase(Strict):
    """The fields every step has. A kind's model adds its key (`action`, `wait`, ...)."""

    #: the kind key of this model; set by every kind's model
    kind: ClassVar[str] = ""
    #: names a nested body adds to the expression scope (foreach: item/index, loop: iteration)
    body_names: ClassVar[frozenset[str]] = frozenset()

    id: StepId
    name: str | None = None
    depends_on: list[str] = Field(default_factory=list)
    when: str | None = None
    run_if: RunIf = "all_succeeded"
    retry: Retry | None = None
    timeout: Duration | None = None
    optional: bool = False
    sla: list[SlaLevel] = Field(default_factory=list)
    #: unset: the template's `on_failure` (default `fail`)
    on_failure: OnFailure | None = None

    def body(self) -> list[StepBase]:
        """Nested steps (a foreach/loop body); empty for kinds without one."""
        return []


# -- the step union ------------------------------------------------------------------

#: kind key -> step model, in registration order (filled by `workflows.language.kinds`)
STEP_MODELS: dict[str, type[StepBase]] = {}
#: models holding nested steps (foreach/loop bodies) and models holding a Template:
#: rebuilt, in this order around the kinds and Template, whenever a kind registers
_BODIES: list[type[BaseModel]] = []
_CONTAINERS: list[type[BaseModel]] = []
M = TypeVar("M", bound=type[BaseModel])


def step_kind(value: Any) -> str | None:
    """The discriminator: the one kind key a step has (None when it has none or several)."""
    # `type(...) is dict` first: decoding a run's plan calls this once per step, and inside
    # the workflow sandbox every `isinstance` goes through the sandbox's wrapper
    if type(value) is dict or isinstance(value, dict):
        keys = [k for k in value if k in STEP_MODELS and value[k] is not None]
        return keys[0] if len(keys) == 1 else None
    kind = getattr(value, "kind", None)
    return kind if kind in STEP_MODELS else None


class _AnyStep:
    """`AnyStep` at run time: the union of the registered kinds, chosen by `step_kind`."""

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        if not STEP_MODELS:
            return handler.generate_schema(StepBase)
        members: Any = tuple(Annotated[m, Tag(k)] for k, m in STEP_MODELS.items())
        union = Annotated[
            Union[members],  # type: ignore[valid-type]  # noqa: UP007 - built at run time
            Discriminator(
                step_kind,
                custom_error_type="step_kind",
                custom_error_message="a step needs exactly one kind key",
            ),
        ]
        return handler.generate_schema(union)


if TYPE_CHECKING:
    AnyStep = StepBase
else:
    AnyStep = _AnyStep


def body_model(model: M) -> M:
    """Class decorator for a kind's model that holds nested steps (rebuilt with the union)."""
    _BODIES.append(model)
    return model


def contains_template(model: M) -> M:
    """Class decorator for models that embed a `Template` (rebuilt after it)."""
    _CONTAINERS.append(model)
    return model


def rebuild_models() -> None:
    """Rebuild every model that embeds the step union (after the set of kinds changed)."""
    models: list[type[BaseModel]] = [*_BODIES, *STEP_MODELS.values(), Template, *_CONTAINERS]
    # forget every cached schema first: the models refer to each other (a foreach body
    # holds steps that may be loops...), and a rebuild reuses the cached schema of a
    # model it meets, which would keep the old union alive in the nested places
    for model in models:
        model.__pydantic_complete__ = False
        if "__pydantic_core_schema__" in model.__dict__:
            delattr(model, "__pydantic_core_schema__")
    for model in models:
        model.model_rebuild(force=True)


class Template(Strict):
    name: TemplateName
    description: str | None = None
    input_schema: dict[str, Any] | None = None
    sla: list[SlaLevel] = Field(default_factory=list)
    steps: list[AnyStep] = Field(min_length=1)
    outputs: dict[str, Any] = Field(default_factory=dict)
    #: the default `on_failure` of every step that can be held (SPEC §9)
    on_failure: OnFailure | None = None
    #: the run fails with `DeadlineExceeded` when it has not finished this long after it
    #: started (SPEC §9); running steps are cancelled, `run_if: all_done` steps run
    deadline: Duration | None = None


def walk(steps: list[StepBase]) -> list[StepBase]:
    """Every step, nested bodies included, depth first in file order."""
    found: list[StepBase] = []
    for step in steps:
        found.append(step)
        found.extend(walk(step.body()))
    return found
