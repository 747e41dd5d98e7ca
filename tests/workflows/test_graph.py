"""workflows.language.graph: Mermaid shapes, subgraphs, edge labels and escaping."""

from __future__ import annotations

from workflows.language.graph import escape, graph_document, to_mermaid
from workflows.language.model import Template


def _t(*steps: dict) -> Template:
    return Template.model_validate({"name": "g", "steps": list(steps)})


def test_shapes_by_kind() -> None:
    t = _t(
        {"id": "act", "action": "http", "with": {"url": "x"}},
        {"id": "ok", "approval": {"assignees": {"roles": ["manager"]}, "quorum": 2}},
        {"id": "qa", "gate": {"check": "true"}},
        {"id": "pause", "wait": {"duration": "1h"}},
        {"id": "calc", "set": {"a": 1}},
        {"id": "child", "subflow": {"template": "other"}},
        {"id": "stop", "fail": {"message": "no"}},
    )
    out = to_mermaid(t)
    assert out.startswith("flowchart TD\n")
    assert 's_act["act<br/>http"]' in out
    assert 's_ok{{"ok<br/>approval: role manager (quorum 2)"}}' in out
    assert 's_qa{"qa<br/>gate: true"}' in out
    assert 's_pause(["pause<br/>wait 1h"])' in out
    assert 's_calc[/"calc<br/>set a"/]' in out
    assert 's_child[["child<br/>subflow: other"]]' in out
    assert 's_stop((("stop<br/>fail")))' in out


def test_edges_labels_and_all_done_dotted() -> None:
    t = _t(
        {"id": "a", "action": "log"},
        {"id": "b", "action": "log", "depends_on": ["a"], "when": "input.x > 1"},
        {"id": "c", "action": "log", "depends_on": ["a", "b"], "run_if": "all_done"},
        {"id": "d", "action": "log", "depends_on": ["a", "b"], "run_if": "any_succeeded"},
    )
    out = to_mermaid(t)
    assert 's_a -->|"when: input.x #gt; 1"| s_b' in out
    assert 's_a -.->|"all_done"| s_c' in out
    assert 's_b -.->|"all_done"| s_c' in out
    assert 's_b -->|"any_succeeded"| s_d' in out


def test_nested_bodies_are_subgraphs_with_unique_ids() -> None:
    t = _t(
        {"id": "end", "action": "log"},  # a Mermaid keyword as a step id
        {
            "id": "each",
            "depends_on": ["end"],
            "foreach": {
                "items": "input.l",
                "steps": [
                    {"id": "n", "action": "log"},
                    {"id": "m", "action": "log", "depends_on": ["n"]},
                ],
            },
        },
        {
            "id": "again",
            "loop": {"max_iterations": 3, "until": "true", "steps": [{"id": "n", "action": "log"}]},
        },
    )
    out = to_mermaid(t)
    assert 'subgraph s_each ["foreach each (items: input.l)"]' in out
    assert "s_each__n --> s_each__m" in out
    assert 'subgraph s_again ["loop again (until: true; max 3)"]' in out
    assert 's_again__n["n<br/>log"]' in out
    assert "s_end --> s_each" in out
    assert out.count("\n  end\n") == 2  # subgraph terminators only; the step is s_end


def test_escaping_quotes_and_markup() -> None:
    assert escape('say "hi" <b> | #1 `x`') == "say #quot;hi#quot; #lt;b#gt; #124; #35;1 #96;x#96;"
    t = _t({"id": "a", "name": 'The "best" <step>', "action": "log", "when": 'input.s == "q"'})
    out = to_mermaid(t)
    assert '"' not in out.split('s_a["', 1)[1].split('"]', 1)[0]
    assert "#quot;best#quot;" in out and "#lt;step#gt;" in out
    assert "when: input.s == #quot;q#quot;" in out


def test_long_labels_shortened() -> None:
    t = _t(
        {"id": "a", "action": "log"},
        {"id": "b", "action": "log", "depends_on": ["a"], "when": "x" * 200},
    )
    label = to_mermaid(t).split('|"', 1)[1].split('"|', 1)[0]
    assert len(label) <= 60 and label.endswith("…")


def test_graph_document() -> None:
    t = Template.model_validate(
        {"name": "g", "description": "Does\n things", "steps": [{"id": "a", "action": "log"}]}
    )
    doc = graph_document(t)
    assert doc.startswith("# g\n\nDoes things\n\n```mermaid\nflowchart TD\n")
    assert doc.endswith("```\n")
