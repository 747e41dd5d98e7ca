"""Draw a template's step DAG as Mermaid (`GET /templates/{name}/graph`, docs/graphs/).

Each kind gives its node shape and its one-line description (`Kind.shape`,
`Kind.describe`): action = rectangle, approval = hexagon, gate = rhombus, wait =
stadium, set = parallelogram, subflow = subroutine, fail = double circle; a kind
with a body (foreach, loop) is a subgraph holding the nested steps, titled by its
description. Edges carry the target's
`when` and non-default `run_if` (`all_done` edges are dotted: cleanup paths).
Node ids are prefixed (`s_…`) so step ids never clash with Mermaid keywords
such as `end`; every label is quoted and escaped.
"""

from __future__ import annotations

from workflows.language import kinds
from workflows.language.model import StepBase, Template

MAX_LABEL = 60

_ENTITIES = (
    ("#", "#35;"),
    ('"', "#quot;"),
    ("<", "#lt;"),
    (">", "#gt;"),
    ("|", "#124;"),
    ("`", "#96;"),
)


def escape(text: str, limit: int = MAX_LABEL) -> str:
    """Label text safe inside Mermaid quotes (entity codes; long text shortened)."""
    text = " ".join(str(text).split())
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    for raw, code in _ENTITIES:
        text = text.replace(raw, code)
    return text


def _label(step: StepBase) -> str:
    parts = [escape(f"{step.name} ({step.id})" if step.name else step.id)]
    parts.append(escape(kinds.kind_of(step).describe(step)))
    if step.sla:
        parts.append(escape("SLA: " + ", ".join(f"{lvl.after} {lvl.level}" for lvl in step.sla)))
    if step.when and not step.depends_on:
        parts.append(escape(f"when: {step.when}"))
    if step.optional:
        parts.append("(optional)")
    return "<br/>".join(parts)


def _edge_label(step: StepBase) -> str:
    bits: list[str] = []
    if step.run_if != "all_succeeded":
        bits.append(step.run_if)
    if step.when:
        bits.append(f"when: {step.when}")
    return escape(" · ".join(bits)) if bits else ""


def _node_id(prefix: str, step_id: str) -> str:
    return f"{prefix}{step_id}"


def _emit(steps: list[StepBase], prefix: str, indent: str, lines: list[str]) -> None:
    for step in steps:
        nid = _node_id(prefix, step.id)
        kind = kinds.kind_of(step)
        body = step.body()
        if body:
            title = f"{step.kind} {step.id} ({kind.describe(step)})"
            lines.append(f'{indent}subgraph {nid} ["{escape(title, 2 * MAX_LABEL)}"]')
            lines.append(f"{indent}  direction TB")
            _emit(body, f"{nid}__", indent + "  ", lines)
            lines.append(f"{indent}end")
        else:
            left, right = kind.shape
            lines.append(f"{indent}{nid}{left}{_label(step)}{right}")
    ids = {s.id for s in steps}
    for step in steps:
        label = _edge_label(step)
        arrow = "-.->" if step.run_if == "all_done" else "-->"
        for dep in dict.fromkeys(step.depends_on):
            if dep not in ids:
                continue
            text = f'|"{label}"|' if label else ""
            lines.append(
                f"{indent}{_node_id(prefix, dep)} {arrow}{text} {_node_id(prefix, step.id)}"
            )


def to_mermaid(template: Template) -> str:
    """Mermaid `flowchart TD` text of the template's steps (nested bodies as subgraphs)."""
    lines = ["flowchart TD"]
    _emit(template.steps, "s_", "  ", lines)
    return "\n".join(lines) + "\n"


def graph_document(template: Template) -> str:
    """The markdown page docs/graphs/<name>.md for a template."""
    title = f"# {template.name}\n\n"
    about = f"{' '.join((template.description or '').split())}\n\n" if template.description else ""
    return f"{title}{about}```mermaid\n{to_mermaid(template)}```\n"


def main(argv: list[str] | None = None) -> int:
    """`python -m workflows.language.graph --write` regenerates docs/graphs/ from
    templates/; `python -m workflows.language.graph FILE` prints one template's Mermaid."""
    import sys
    from pathlib import Path

    from workflows.language.loader import load_document

    args = sys.argv[1:] if argv is None else argv
    root = Path(__file__).resolve().parents[2]
    if args == ["--write"]:
        out = root / "docs" / "graphs"
        out.mkdir(parents=True, exist_ok=True)
        for path in sorted((root / "templates").glob("*.yaml")):
            template = Template.model_validate(load_document(path.read_text()))
            (out / f"{template.name}.md").write_text(graph_document(template))
        return 0
    if len(args) != 1:
        sys.stderr.write("usage: python -m workflows.language.graph --write | FILE\n")
        return 2
    path = Path(args[0])
    template = Template.model_validate(load_document(path.read_bytes()))
    sys.stdout.write(to_mermaid(template))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
