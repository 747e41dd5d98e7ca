"""The body of `POST /templates/{name}/test`, checked against the template (SPEC §13).

`build(template, body, real_queue)` returns the engine's `TestPlan` or raises `Invalid`
(422) naming every problem before anything runs:

- a key of `mocks`, `decisions` or `allow_real` must name a step: its id (`approve`),
  its path without indexes (`review.approve`) or an address (`review[1].approve`);
- mocks are for `action` and `subflow` steps, `{output: ...}` or `{error: "...", type?,
  retryable?}`, or a non-empty list of them (used in order; the last one repeats);
- decisions are for approvals (an outcome of the step, or `{outcome, actor?, comment?,
  data?}`, or `null` = nobody decides; a list for rounds) and for gates with
  `on_fail: pause` (`resume`);
- `allow_real` is for `action` steps only;
- every `action` and `subflow` step has a mock (by id or path, so that every item and
  round is answered), or — actions only — a place in `allow_real`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from api.errors import ErrorItem, Invalid
from workflows.engine.testplan import MockAnswer, ScriptedDecision, TestPlan
from workflows.kinds.action import ActionStep
from workflows.kinds.approval import ApprovalStep
from workflows.kinds.gate import GateStep
from workflows.kinds.subflow import SubflowStep
from workflows.language.model import StepBase, Template

_INDEX = re.compile(r"\[\d+\]")
MOCKABLE = (ActionStep, SubflowStep)


class TemplateTestRequest(BaseModel):
    """`POST /templates/{name}/test`: the run input and what answers the steps."""

    model_config = ConfigDict(extra="forbid")

    input: dict[str, Any] = Field(default_factory=dict)
    mocks: dict[str, Any] = Field(
        default_factory=dict,
        description="step → `{output}` | `{error}` | a list of them (used in order)",
    )
    decisions: dict[str, Any] = Field(
        default_factory=dict,
        description="approval step → outcome | `{outcome, actor?, comment?, data?}` | null "
        "(nobody decides) | a list of them (rounds, in order); gate with on_fail: pause → `resume`",
    )
    allow_real: list[str] = Field(
        default_factory=list, description="action steps that call their action for real"
    )


@dataclass
class _Step:
    path: str  # ids joined by '.', no indexes
    step: StepBase


def steps_of(template: Template) -> list[_Step]:
    """Every step of the template, nested bodies included."""

    def walk(items: list[StepBase], prefix: str) -> Iterator[_Step]:
        for s in items:
            path = f"{prefix}.{s.id}" if prefix else s.id
            yield _Step(path, s)
            yield from walk(s.body(), path)

    return list(walk(template.steps, ""))


def _named(key: str, steps: list[_Step]) -> list[_Step]:
    plain = _INDEX.sub("", key)
    exact = [s for s in steps if s.path == plain]
    if exact or "." in plain or plain != key:
        return exact
    return [s for s in steps if s.step.id == key]


def _describe(s: _Step) -> str:
    if isinstance(s.step, ActionStep):
        return f"action step '{s.path}' ({s.step.action})"
    return f"{s.step.kind} step '{s.path}'"


class _Problems:
    def __init__(self) -> None:
        self.items: list[ErrorItem] = []

    def add(self, loc: str, msg: str) -> None:
        self.items.append(ErrorItem(loc=loc, msg=msg))


def build(template: Template, body: TemplateTestRequest, real_queue: str) -> TestPlan:
    """The `TestPlan` for `body`, or `Invalid` naming every problem."""
    steps = steps_of(template)
    p = _Problems()
    mocks = {k: _mocks(p, k, v, steps) for k, v in body.mocks.items()}
    decisions = {k: _decisions(p, k, v, steps) for k, v in body.decisions.items()}
    for i, key in enumerate(body.allow_real):
        named = _named(key, steps)
        if not named:
            p.add(f"allow_real[{i}]", f"no step '{key}' in template '{template.name}'")
        for s in named:
            if not isinstance(s.step, ActionStep):
                p.add(f"allow_real[{i}]", f"{_describe(s)} cannot run for real: only action steps")
        if key in body.mocks:
            p.add(f"allow_real[{i}]", f"'{key}' has a mock too: give one or the other")
    _coverage(p, steps, body)
    if p.items:
        first = p.items[0]
        more = f" (and {len(p.items) - 1} more)" if len(p.items) > 1 else ""
        raise Invalid(f"{first.loc}: {first.msg}{more}", p.items)
    return TestPlan(
        mocks={k: v for k, v in mocks.items() if v},
        decisions={k: v for k, v in decisions.items() if v is not None},
        allow_real=list(body.allow_real),
        real_task_queue=real_queue,
    )


def _covered(s: _Step, keys: set[str]) -> bool:
    return s.path in keys or s.step.id in keys


def _coverage(p: _Problems, steps: list[_Step], body: TemplateTestRequest) -> None:
    """Every action/subflow step answered: nothing real happens unless asked for."""
    mocked, real = set(body.mocks), set(body.allow_real)
    for s in steps:
        if not isinstance(s.step, MOCKABLE) or _covered(s, mocked):
            continue
        if isinstance(s.step, ActionStep):
            if _covered(s, real):
                continue
            p.add(
                f"mocks.{s.path}",
                f"{_describe(s)} has no mock: give mocks.{s.step.id} ({{output}} or {{error}}) "
                "or list it in allow_real to call the action for real",
            )
        else:
            p.add(f"mocks.{s.path}", f"{_describe(s)} has no mock: subflow steps are always mocked")


def _mocks(p: _Problems, key: str, value: Any, steps: list[_Step]) -> list[MockAnswer]:
    loc = f"mocks.{key}"
    named = _named(key, steps)
    if not named:
        p.add(loc, f"no step '{key}' in the template")
    for s in named:
        if not isinstance(s.step, MOCKABLE):
            p.add(loc, f"{_describe(s)} takes no mock: only action and subflow steps")
    values = value if isinstance(value, list) else [value]
    if not values:
        p.add(loc, "an empty list answers nothing: give at least one mock")
    answers = []
    for i, v in enumerate(values):
        where = f"{loc}[{i}]" if isinstance(value, list) else loc
        if not isinstance(v, dict) or len(set(v) & {"output", "error"}) != 1:
            p.add(where, 'a mock is {output: <the step output>} or {error: "<message>"}')
            continue
        if "output" in v and len(v) > 1:
            p.add(where, "`type` and `retryable` describe an error mock, not an output")
            continue
        try:
            answer = MockAnswer.model_validate(v)
        except ValidationError as e:
            p.add(where, e.errors()[0]["msg"])
            continue
        if "error" in v and not (isinstance(v["error"], str) and v["error"].strip()):
            p.add(where, "error must be a message (a non-empty string)")
            continue
        answers.append(answer)
    return answers


def _decisions(
    p: _Problems, key: str, value: Any, steps: list[_Step]
) -> list[ScriptedDecision | None] | None:
    loc = f"decisions.{key}"
    named = _named(key, steps)
    if not named:
        p.add(loc, f"no step '{key}' in the template")
        return None
    values = value if isinstance(value, list) else [value]
    out: list[ScriptedDecision | None] = []
    for i, v in enumerate(values):
        where = f"{loc}[{i}]" if isinstance(value, list) else loc
        ok, d = _decision(p, where, v)
        if not ok:
            continue
        for s in named:
            _fits(p, where, s, d)
        out.append(d)
    return out


def _decision(p: _Problems, where: str, v: Any) -> tuple[bool, ScriptedDecision | None]:
    """(usable?, the decision — None: nobody decides)."""
    if v is None:
        return True, None
    if isinstance(v, str):
        v = {"outcome": v}
    try:
        return True, ScriptedDecision.model_validate(v)
    except ValidationError as e:
        err = e.errors()[0]
        field = ".".join(str(x) for x in err["loc"])
        p.add(where, f"a decision is an outcome or {{outcome, actor?, comment?, data?}}: "
              f"{field + ': ' if field else ''}{err['msg']}")
        return False, None


def _fits(p: _Problems, where: str, s: _Step, d: ScriptedDecision | None) -> None:
    if isinstance(s.step, ApprovalStep):
        outcomes = s.step.approval.outcomes
        if d is not None and d.outcome not in outcomes:
            p.add(where, f"'{d.outcome}' is not an outcome of {_describe(s)} ({', '.join(outcomes)})")
    elif isinstance(s.step, GateStep) and s.step.gate.on_fail == "pause":
        if d is None or d.outcome != "resume":
            p.add(where, f"{_describe(s)} pauses the run: its only decision is 'resume'")
    else:
        p.add(where, f"{_describe(s)} takes no decision: only approvals and gates that pause")
