"""Compile a validated template into the pinned, normalized form the workflow runs.

Compilation is deterministic and cheap: defaults filled in (so the interpreter
never guesses and the history shows the effective policy) and a stable
topological order. It assumes `workflows.validate` accepted the template; a
cycle still raises ValueError rather than looping.
"""

from __future__ import annotations

import heapq

from workflows.io import CompiledTemplate
from workflows.model import Retry, Step, Template

DEFAULT_ACTION_TIMEOUT = "5m"


def topo_order(steps: list[Step]) -> list[str]:
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


def _fill(steps: list[Step]) -> None:
    for step in steps:
        if step.kind == "action":
            if step.retry is None:
                step.retry = Retry()
            if step.timeout is None:
                step.timeout = DEFAULT_ACTION_TIMEOUT
        body = step.body
        if body is not None:
            _fill(body)


def compile_template(template: Template, version: int) -> CompiledTemplate:
    """Deep-copy `template` with defaults filled and `order` = topological order."""
    copy = template.model_copy(deep=True)
    _fill(copy.steps)
    return CompiledTemplate(
        name=copy.name, version=version, template=copy, order=topo_order(copy.steps)
    )
