"""Size caps of a template, checked first at save time (a 422 naming the limit).

Every step and every `depends_on` edge costs the interpreter work in each
workflow activation; past a few hundred steps or a few thousand edges one
activation can exceed Temporal's 2-second deadlock deadline and the run would
retry its workflow task forever. Templates over the caps are refused before the
other (slower) checks run. The API passes the caps from its settings
(`TEMPLATE_MAX_STEPS`, `TEMPLATE_MAX_EDGES`); these defaults apply elsewhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class TemplateLimits:
    max_steps: int = 300
    max_edges: int = 2000


def _count(steps: Any) -> tuple[int, int]:
    """Steps (nested bodies included) and `depends_on` entries of a raw step list."""
    n_steps = n_edges = 0
    stack = [steps]
    while stack:
        current = stack.pop()
        if not isinstance(current, list):
            continue
        for step in current:
            if not isinstance(step, Mapping):
                continue
            n_steps += 1
            deps = step.get("depends_on")
            if isinstance(deps, list):
                n_edges += len(deps)
            for kind in ("foreach", "loop"):
                body = step.get(kind)
                if isinstance(body, Mapping):
                    stack.append(body.get("steps"))
    return n_steps, n_edges


def over_limits(doc: Mapping[str, Any], limits: TemplateLimits) -> list[tuple[str, str]]:
    """`(loc, msg)` for each cap the raw document exceeds (empty when within them)."""
    n_steps, n_edges = _count(doc.get("steps"))
    found = []
    if n_steps > limits.max_steps:
        found.append(
            (
                "steps",
                f"the template has {n_steps} steps (nested ones included), more than the limit "
                f"of {limits.max_steps} (TEMPLATE_MAX_STEPS): split it into subflows",
            )
        )
    if n_edges > limits.max_edges:
        found.append(
            (
                "steps",
                f"the template has {n_edges} depends_on entries, more than the limit of "
                f"{limits.max_edges} (TEMPLATE_MAX_EDGES): depend on a join step instead of "
                "on every earlier step",
            )
        )
    return found
