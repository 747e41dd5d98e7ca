"""Shape checks on the raw step lists: unique ids, known deps, no cycles.

They run on the raw document (plain dicts), so they report even when the schema
check failed elsewhere in the template: users see all their mistakes at once.
Nested bodies (`<kind>.steps`: foreach, loop) are checked the same way; a
nested id must not reuse an id of an enclosing level (it would shadow it in
`steps.<id>`), but sibling bodies may reuse ids.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from typing import Any

from workflows.language.model import STEP_MODELS

Add = Callable[[str, str], None]


def find_cycle(graph: Mapping[str, list[str]], order: list[str]) -> list[str] | None:
    """One dependency cycle as [a, b, ..., a], each depending on the next, or None.

    Iterative DFS in `order` (file order) so the reported cycle is stable.
    """
    state: dict[str, int] = {}  # 1 = on stack, 2 = done
    for start in order:
        if state.get(start):
            continue
        stack: list[tuple[str, int]] = [(start, 0)]
        path: list[str] = [start]
        state[start] = 1
        while stack:
            node, i = stack[-1]
            deps = graph.get(node, [])
            if i < len(deps):
                stack[-1] = (node, i + 1)
                nxt = deps[i]
                if state.get(nxt) == 1:
                    return path[path.index(nxt) :] + [nxt]
                if not state.get(nxt):
                    state[nxt] = 1
                    stack.append((nxt, 0))
                    path.append(nxt)
            else:
                state[node] = 2
                stack.pop()
                path.pop()
    return None


def upstream(graph: Mapping[str, list[str]]) -> dict[str, frozenset[str]]:
    """Transitive dependencies of every node (cycle-safe)."""
    memo: dict[str, frozenset[str]] = {}

    def visit(node: str, active: frozenset[str]) -> frozenset[str]:
        if node in memo:
            return memo[node]
        acc: set[str] = set()
        for dep in graph.get(node, []):
            if dep in active or dep not in graph:
                continue
            acc.add(dep)
            acc |= visit(dep, active | {dep})
        result = frozenset(acc)
        memo[node] = result
        return result

    return {node: visit(node, frozenset({node})) for node in graph}


def check_structure(steps: Any, prefix: str, outer_ids: frozenset[str], add: Add) -> None:
    """Report shape problems of one step list (and, recursively, nested bodies)."""
    if not isinstance(steps, list):
        return
    ids: dict[str, int] = {}
    for i, step in enumerate(steps):
        if not isinstance(step, Mapping):
            continue
        loc = f"{prefix}[{i}]"
        sid = step.get("id")
        if not isinstance(sid, str):
            continue
        if sid in ids:
            add(f"{loc}.id", f"duplicate step id '{sid}' (first used by {prefix}[{ids[sid]}])")
        elif sid in outer_ids:
            add(f"{loc}.id", f"step id '{sid}' is already used by an enclosing step list")
        else:
            ids[sid] = i

    graph: dict[str, list[str]] = {}
    for i, step in enumerate(steps):
        if not isinstance(step, Mapping):
            continue
        sid = step.get("id")
        deps = step.get("depends_on")
        known: list[str] = []
        if isinstance(deps, list):
            for k, dep in enumerate(deps):
                if not isinstance(dep, str):
                    continue
                dloc = f"{prefix}[{i}].depends_on[{k}]"
                if dep == sid:
                    add(dloc, f"step '{sid}' depends on itself")
                elif dep in ids:
                    known.append(dep)
                elif dep in outer_ids:
                    add(
                        dloc,
                        f"'{dep}' is outside this step list: depends_on names siblings only "
                        "(steps of an enclosing list are reachable through the parent's depends_on)",
                    )
                else:
                    close = difflib.get_close_matches(dep, list(ids), n=1)
                    hint = f" (did you mean '{close[0]}'?)" if close else ""
                    add(dloc, f"unknown step '{dep}' in depends_on{hint}")
        if isinstance(sid, str) and ids.get(sid) == i:
            graph[sid] = known

    cycle = find_cycle(graph, list(graph))
    if cycle is not None:
        ring = cycle[:-1]
        first = min(ring, key=lambda s: ids[s])
        at = ring.index(first)
        ring = ring[at:] + ring[:at] + [first]
        add(
            f"{prefix}[{ids[first]}].depends_on",
            "dependency cycle: " + " → ".join(ring) + " (→ = depends on)",
        )

    inner_outer = outer_ids | frozenset(ids)
    for i, step in enumerate(steps):
        if not isinstance(step, Mapping):
            continue
        for kind in STEP_MODELS:
            body = step.get(kind)
            if isinstance(body, Mapping):
                check_structure(body.get("steps"), f"{prefix}[{i}].{kind}.steps", inner_outer, add)
