"""Property test: random DAGs validate and compile in dependency order; cycles are named."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.helpers.language import validate_template
from workflows.language.compiler import compile_template


@st.composite
def dags(draw: st.DrawFn) -> dict[str, list[str]]:
    """id -> depends_on, acyclic by construction (edges only to earlier ranks), shuffled."""
    n = draw(st.integers(1, 12))
    ids = [f"s{i}" for i in range(n)]
    graph = {
        sid: sorted(draw(st.sets(st.sampled_from(ids[:i]), max_size=3))) if i else []
        for i, sid in enumerate(ids)
    }
    order = draw(st.permutations(ids))
    return {sid: graph[sid] for sid in order}


def _doc(graph: dict[str, list[str]]) -> dict[str, object]:
    steps = [
        {"id": sid, "action": "log", "with": {"message": sid}, "depends_on": deps}
        for sid, deps in graph.items()
    ]
    return {"name": "dag", "steps": steps}


@settings(max_examples=100, deadline=None)
@given(dags())
def test_acyclic_validates_and_orders(graph: dict[str, list[str]]) -> None:
    result = validate_template(_doc(graph))
    assert result.ok, result.findings
    assert result.template is not None
    order = compile_template(result.template, 1).order
    assert sorted(order) == sorted(graph)
    pos = {sid: i for i, sid in enumerate(order)}
    for sid, deps in graph.items():
        assert all(pos[d] < pos[sid] for d in deps)


@settings(max_examples=100, deadline=None)
@given(dags(), st.data())
def test_cycles_rejected_naming_a_real_cycle(
    graph: dict[str, list[str]], data: st.DataObject
) -> None:
    ids = list(graph)
    ring = (
        data.draw(st.lists(st.sampled_from(ids), min_size=2, max_size=5, unique=True))
        if len(ids) > 1
        else None
    )
    if ring is None:
        graph = {ids[0]: [], "x": ["y"], "y": ["x"]}
    else:
        graph = {sid: list(deps) for sid, deps in graph.items()}
        for a, b in zip(ring, ring[1:] + ring[:1], strict=True):
            if b not in graph[a]:
                graph[a].append(b)  # a depends on b: a ring of dependencies
    result = validate_template(_doc(graph))
    assert not result.ok
    cycles = [f for f in result.findings if f.msg.startswith("dependency cycle: ")]
    assert len(cycles) == 1, result.findings
    named = cycles[0].msg.split(": ", 1)[1].split(" (")[0].split(" → ")
    assert named[0] == named[-1] and len(named) >= 3
    for a, b in zip(named, named[1:], strict=False):
        assert b in graph[a], f"{a} does not depend on {b}: {cycles[0].msg}"


KEYS = [
    "name", "steps", "id", "action", "with", "depends_on", "when", "run_if", "approval",
    "assignees", "users", "roles", "quorum", "outcomes", "sla", "after", "level", "decide",
    "foreach", "items", "loop", "until", "max_iterations", "wait", "duration", "set", "gate",
    "check", "subflow", "template", "fail", "message", "outputs", "input_schema", "retry",
    "timeout", "form", "on_timeout", "notify", "reassign", "bogus",
]  # fmt: skip
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 5), st.sampled_from(
        ["a", "b", "log", "http", "1s", "0s", "all", "${{ input.x }}", "steps.a.state", "${{", "[]", "approved"]
    ),
)  # fmt: skip
DOCS = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(KEYS), inner, max_size=5)
    ),
    max_leaves=25,
)


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.sampled_from(KEYS), DOCS, max_size=6))
def test_validator_never_crashes_on_garbage(doc: dict[str, object]) -> None:
    result = validate_template(doc)
    assert all(not f.msg.startswith("internal error") for f in result.findings), result.findings
    assert result.ok == (result.template is not None)
    locs = [f.loc for f in result.findings]
    assert len(locs) == len(result.findings)
