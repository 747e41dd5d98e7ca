"""The benchmark DAGs, written as relayflow templates (plain dicts, as a user would save them).

Every step is `action: noop` with an empty `with:`, so both sides do exactly the
same activity work; `bench.handwritten` has the same shapes as Temporal code.
"""

from __future__ import annotations

from typing import Any

NOOP = "noop"


def _step(sid: str, deps: list[str] | None = None) -> dict[str, Any]:
    step: dict[str, Any] = {"id": sid, "action": NOOP, "with": {}}
    if deps:
        step["depends_on"] = deps
    return step


def linear(n: int) -> dict[str, Any]:
    """s1 → s2 → … → sn."""
    steps = [_step("s1")] + [_step(f"s{i}", [f"s{i - 1}"]) for i in range(2, n + 1)]
    return {"name": f"bench-linear-{n}", "steps": steps}


def fanout(width: int = 10) -> dict[str, Any]:
    """`width` independent steps b1…bN, then `join` depending on all of them."""
    branches = [_step(f"b{i}") for i in range(1, width + 1)]
    join = _step("join", [b["id"] for b in branches])
    return {"name": f"bench-fanout-{width}", "steps": [*branches, join]}


def diamond() -> dict[str, Any]:
    """Three levels: a → (b, c) → d."""
    return {
        "name": "bench-diamond",
        "steps": [_step("a"), _step("b", ["a"]), _step("c", ["a"]), _step("d", ["b", "c"])],
    }


def diamond_chain(diamonds: int = 3) -> dict[str, Any]:
    """`diamonds` diamonds in a row sharing their ends (3 → 10 steps):
    d0 → (l1, r1) → d1 → (l2, r2) → d2 → (l3, r3) → d3."""
    steps = [_step("d0")]
    for i in range(1, diamonds + 1):
        steps += [_step(f"l{i}", [f"d{i - 1}"]), _step(f"r{i}", [f"d{i - 1}"])]
        steps.append(_step(f"d{i}", [f"l{i}", f"r{i}"]))
    return {"name": f"bench-diamond-{len(steps)}", "steps": steps}


#: shape name → (template dict, number of activities)
SHAPES: dict[str, tuple[dict[str, Any], int]] = {
    "linear-1": (linear(1), 1),
    "linear-5": (linear(5), 5),
    "linear-20": (linear(20), 20),
    "linear-100": (linear(100), 100),  # beyond the brief: how the gap scales with steps
    "fanout-10+join": (fanout(10), 11),
    "diamond-3": (diamond(), 4),
    "diamond-10": (diamond_chain(3), 10),
}
