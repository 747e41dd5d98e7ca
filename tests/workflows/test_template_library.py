"""The built-in template library (templates/): valid, compilable, documented, with sample input."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from workflows.compiler import compile_template
from workflows.expressions import evaluate
from workflows.graph import to_mermaid
from workflows.loader import load_document
from workflows.validate import validate_template

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = sorted((ROOT / "templates").glob("*.yaml"))
EXPECTED = {
    "purchase-order",
    "content-to-social",
    "listing-campaign",
    "pull-request-review",
    "incident-escalation",
    "employee-onboarding",
}


def _load(path: Path) -> dict:
    return load_document(path.read_text())


def test_library_has_the_six_templates() -> None:
    assert {p.stem for p in TEMPLATES} >= EXPECTED


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: p.stem)
def test_template_validates_and_compiles(path: Path) -> None:
    doc = _load(path)
    assert doc["name"] == path.stem
    result = validate_template(doc)
    assert result.ok, [(f.loc, f.msg) for f in result.findings]
    assert result.template is not None
    compiled = compile_template(result.template, 1)
    assert sorted(compiled.order) == sorted(s.id for s in result.template.steps)
    # JSON and YAML forms of the same template load identically
    as_json = json.dumps(doc)
    assert load_document(as_json) == doc


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: p.stem)
def test_sample_input_matches_input_schema(path: Path) -> None:
    doc = _load(path)
    sample = ROOT / "templates" / "examples" / f"{path.stem}.json"
    assert sample.exists(), f"missing sample input {sample}"
    data = json.loads(sample.read_text())
    schema = doc["input_schema"]
    jsonschema.validators.validator_for(schema)(schema).validate(data)


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: p.stem)
def test_top_level_conditions_evaluate_on_sample_input(path: Path) -> None:
    """`when`s that only read `input` give a bool on the sample input (catches typos early)."""
    doc = _load(path)
    data = json.loads((ROOT / "templates" / "examples" / f"{path.stem}.json").read_text())
    for step in doc["steps"]:
        when = step.get("when")
        if when and "steps." not in when and "vars." not in when:
            assert isinstance(evaluate(when, {"input": data}), bool)


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: p.stem)
def test_graph_doc_in_sync(path: Path) -> None:
    """docs/graphs/<name>.md holds the current Mermaid (regenerate: python -m workflows.graph)."""
    result = validate_template(_load(path))
    assert result.template is not None
    graph_doc = ROOT / "docs" / "graphs" / f"{path.stem}.md"
    assert graph_doc.exists(), "run: python -m workflows.graph --write"
    assert f"```mermaid\n{to_mermaid(result.template)}```" in graph_doc.read_text(), (
        "docs/graphs out of date; run: .venv/bin/python -m workflows.graph --write"
    )
