"""JSON Schemas in templates: valid, every `$ref` resolves within the schema, nothing fetched."""

from __future__ import annotations

from typing import Any

import pytest

from workflows.language.json_schemas import SchemaUnusable, errors, schema_problems


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "object", "properties": {"a": {"$ref": "#/$defs/a"}}, "$defs": {"a": {}}},
        {"properties": {"tree": {"$ref": "#"}}},  # recursion that consumes the instance
        {
            "$defs": {"a": {"$anchor": "here", "type": "string"}},
            "properties": {"x": {"$ref": "#here"}},
        },
        {
            "$id": "https://example.test/root",
            "$defs": {"sub": {"$id": "sub", "$defs": {"s": {"type": "string"}}}},
            "properties": {"x": {"$ref": "sub#/$defs/s"}},
        },
        {
            "$schema": "http://json-schema.org/draft-07/schema#",
            "definitions": {"a": {"type": "string"}},
            "properties": {"x": {"$ref": "#/definitions/a"}},
        },
        {"$ref": "https://json-schema.org/draft/2020-12/schema"},  # bundled meta-schema
    ],
)
def test_usable_schemas_have_no_problems(schema: dict[str, Any]) -> None:
    assert schema_problems(schema) == []


@pytest.mark.parametrize(
    ("schema", "fragment"),
    [
        (
            {"$ref": "#/$defs/missing"},
            "$ref '#/$defs/missing' does not resolve within this schema (at $ref)",
        ),
        (
            {"properties": {"a": {"allOf": [{"$ref": "#/$defs/x"}]}}},
            "does not resolve within this schema (at properties/a/allOf/0/$ref)",
        ),
        ({"$ref": "#nowhere"}, "does not resolve"),
        ({"$ref": "https://example.com/s.json"}, "another document, which is never fetched"),
        ({"$ref": "other.json#/a"}, "another document, which is never fetched"),
        ({"$ref": "#"}, "endless loop"),
        ({"type": "objekt"}, "is not valid"),
        ({"$schema": 5}, "$schema must be a string"),
        ({"properties": {"a": {"pattern": "["}}}, "is not a 'regex'"),
    ],
)
def test_problems_are_named(schema: dict[str, Any], fragment: str) -> None:
    problems = schema_problems(schema)
    assert any(fragment in p for p in problems), problems


@pytest.mark.parametrize(
    "schema",
    [
        {"$ref": "#/$defs/x"},
        {"$ref": "https://example.com/s.json"},
        {"$ref": "#"},
        {"$schema": 5},
        {"properties": {"a": {"pattern": "["}}},
    ],
)
def test_checking_data_with_an_unusable_schema_raises_schema_unusable(
    schema: dict[str, Any],
) -> None:
    with pytest.raises(SchemaUnusable):
        errors(schema, {"a": 1})


def test_errors_are_sorted_by_path() -> None:
    schema = {"properties": {"b": {"type": "string"}, "a": {"type": "string"}}}
    assert [list(e.absolute_path) for e in errors(schema, {"b": 1, "a": 2})] == [["a"], ["b"]]
