"""Docs that must not drift from the code: the JSON Schema and the language reference."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import jsonschema
import pytest
from pydantic import BaseModel

from workflows.kinds import KINDS
from workflows.language import kinds, model
from workflows.language.loader import load_document
from workflows.language.validate import template_json_schema

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"


def _models() -> list[type[BaseModel]]:
    """The language's own models and every kind module's models."""
    modules = [model, *(sys.modules[k.model.__module__] for k in KINDS)]
    return [
        obj
        for mod in modules
        for obj in vars(mod).values()
        if isinstance(obj, type)
        and issubclass(obj, BaseModel)
        and obj.__module__ == mod.__name__
        and not obj.__name__.startswith("_")
    ]


def test_schema_file_in_sync() -> None:
    """Regenerate: .venv/bin/python -m workflows.language.validate --schema > docs/template.schema.json"""
    on_disk = json.loads((DOCS / "template.schema.json").read_text())
    assert on_disk == template_json_schema()


def test_schema_accepts_the_library_and_uses_aliases() -> None:
    schema = template_json_schema()
    action = schema["$defs"]["ActionStep"]["properties"]
    assert "with" in action and "with_" not in action
    assert "set" in schema["$defs"]["SetStep"]["properties"]
    validator = jsonschema.Draft202012Validator(schema)
    for path in sorted((ROOT / "templates").glob("*.yaml")):
        validator.validate(load_document(path.read_text()))


@pytest.mark.parametrize("cls", _models(), ids=lambda c: c.__name__)
def test_every_model_field_is_documented(cls: type[BaseModel]) -> None:
    text = (DOCS / "templates.md").read_text()
    for name, info in cls.model_fields.items():
        shown = info.alias or name
        assert re.search(rf"`{re.escape(shown)}`", text), (
            f"{cls.__name__}.{shown} missing from docs/templates.md"
        )


def test_every_kind_and_run_if_documented() -> None:
    text = (DOCS / "templates.md").read_text()
    for kind in kinds.keys():
        assert f"### `{kind}`" in text, kind
    for value in ("all_succeeded", "none_failed", "any_succeeded", "all_done"):
        assert f"`{value}`" in text


def test_expression_doc_mentions_every_scope_name() -> None:
    from workflows.language.expressions import SCOPE_NAMES, TRIGGER_NAMES

    text = (DOCS / "expressions.md").read_text()
    for name in SCOPE_NAMES | TRIGGER_NAMES:
        assert f"`{name}`" in text, name


def test_reference_examples_parse() -> None:
    """The full example validates; every step snippet at least parses as steps."""
    from tests.helpers.language import validate_template

    text = (DOCS / "templates.md").read_text()
    blocks = re.findall(r"```yaml\n(.*?)```", text, flags=re.S)
    full = [b for b in blocks if b.startswith("name:")]
    assert full and validate_template(load_document(full[0])).ok
    snippets = [b for b in blocks if b.lstrip().startswith("- id:")]
    assert len(snippets) >= 9
    for block in snippets:
        steps = load_document(f"steps:\n{_indent(block)}")["steps"]
        model.Template.model_validate({"name": "snippet", "steps": steps})


def _indent(block: str) -> str:
    return "".join(f"  {line}\n" for line in block.splitlines())
