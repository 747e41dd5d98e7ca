"""Compile a validated template into the pinned, normalized form the workflow runs.

Compilation is deterministic and cheap: each kind's defaults filled in (`Kind.prepare`,
so the interpreter never guesses and the history shows the effective policy) and a
stable topological order. It assumes the validator accepted the template; a cycle
still raises ValueError rather than looping.
"""

from __future__ import annotations

import heapq
import json
from functools import cached_property, lru_cache
from typing import Any

from pydantic import BaseModel, SerializerFunctionWrapHandler, model_serializer, model_validator

from workflows.language import kinds
from workflows.language.compact import compact
from workflows.language.model import STEP_MODELS, StepBase, Template, contains_template, walk

#: the engine behaviour `compile_template` pins into new plans (see `CompiledTemplate.engine`)
ENGINE = 2


@contains_template
class CompiledTemplate(BaseModel):
    """A validated template pinned at one version, normalized by `compile_template`.

    `template` has every default filled in (action retry/timeout). It travels in the
    run's start input, compacted (`workflows.language.compact`: absent fields left
    out); `order`, derived, is recomputed when asked for (histories recorded with it
    still decode: the key is ignored).
    """

    name: str
    version: int
    template: Template
    #: the interpreter behaviour the plan was compiled for (`ENGINE` for new plans). A run
    #: keeps it for its whole life, so histories recorded by an older behaviour replay
    #: with it: 1 = every step starts as a task of its own; 2 = a frame's only runnable
    #: step runs inline in the scheduler (same events, less work per step).
    engine: int = 1

    @cached_property
    def order(self) -> list[str]:
        """A topological order of the top-level step ids (file order among ready ones)."""
        return topo_order(self.template.steps)

    @model_serializer(mode="wrap")
    def _compact(self, handler: SerializerFunctionWrapHandler) -> Any:
        return compact(self, handler(self))

    @model_validator(mode="before")
    @classmethod
    def _from_older_histories(cls, data: Any) -> Any:
        """Plans recorded before the kind redesign list every field of every kind, unset
        ones as null (`"approval": null` on an action step): drop those step-level nulls
        so recorded histories keep replaying (every plan recorded before plans were
        compacted has `order`; newer ones skip the walk). Only step keys are touched, never values
        inside `with:` and the like."""
        # plans compacted by this version carry no `order` and never such nulls
        if isinstance(data, dict) and "order" in data and isinstance(data.get("template"), dict):
            _drop_null_step_keys(data["template"].get("steps"))
        return data


def _drop_null_step_keys(steps: Any) -> None:
    if not isinstance(steps, list):
        return
    for step in steps:
        if not isinstance(step, dict):
            continue
        for key in [k for k, v in step.items() if v is None]:
            del step[key]
        for key in STEP_MODELS:
            body = step.get(key)
            if isinstance(body, dict):
                _drop_null_step_keys(body.get("steps"))


def topo_order(steps: list[StepBase]) -> list[str]:
    """Step ids in dependency order; among ready steps, file order (Kahn + heap).

    Dependencies on ids outside `steps` are ignored (validation reports them).
    Raises ValueError naming the steps left on a cycle.
    """
    position = {s.id: i for i, s in enumerate(steps)}
    indegree = {s.id: 0 for s in steps}
    children: dict[str, list[str]] = {s.id: [] for s in steps}
    for s in steps:
        for dep in dict.fromkeys(s.depends_on):
            if dep in position:
                children[dep].append(s.id)
                indegree[s.id] += 1
    ready = [position[sid] for sid, d in indegree.items() if d == 0]
    heapq.heapify(ready)
    order: list[str] = []
    while ready:
        sid = steps[heapq.heappop(ready)].id
        order.append(sid)
        for child in children[sid]:
            indegree[child] -= 1
            if indegree[child] == 0:
                heapq.heappush(ready, position[child])
    if len(order) != len(steps):
        done = set(order)
        stuck = [s.id for s in steps if s.id not in done]
        raise ValueError(f"dependency cycle among steps: {', '.join(stuck)}")
    return order


def shared_plan(data: dict[str, Any]) -> CompiledTemplate:
    """The plan `data` (decoded JSON) describes, decoded once per worker process.

    Every run of a template version carries the same plan in its start input; decoding
    it (a pydantic model per step, validators included) inside the workflow sandbox was
    the biggest single cost of a run's first workflow task (~10 % of the workflow CPU of
    a 20-step run). Runs of the same plan share one `CompiledTemplate`: the engine reads
    plans and never changes them (kinds' `prepare` runs in `compile_template`, before).
    The key is the plan's exact JSON, so different plans never share.
    """
    return _plan_from_json(json.dumps(data, separators=(",", ":")))


@lru_cache(maxsize=256)
def _plan_from_json(text: str) -> CompiledTemplate:
    return CompiledTemplate.model_validate_json(text)


def compile_template(template: Template, version: int) -> CompiledTemplate:
    """Deep-copy `template` with every kind's defaults and `order` = topological order."""
    copy = template.model_copy(deep=True)
    for step in walk(copy.steps):
        prepare = kinds.kind_of(step).prepare
        if prepare is not None:
            prepare(step)
    plan = CompiledTemplate(name=copy.name, version=version, template=copy, engine=ENGINE)
    plan.order  # noqa: B018 — a cycle raises here, at compile time
    return plan
