"""An approval's `form` (JSON Schema) as HTML fields, and posted fields back to data.

Top-level properties of an object schema become inputs: `string` → text (textarea
when `maxLength` > 200 or `format: textarea`), `number`/`integer` → number,
`boolean` → checkbox, `enum` → select; anything else (objects, arrays, unions) →
a JSON textarea. The workflow validates the data again against the full schema
(the server is the judge; this only shapes the inputs).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

PREFIX = "f."  # posted field names: f.<property>


@dataclass
class Field:
    name: str
    label: str
    widget: str  # text | textarea | number | checkbox | select | json
    required: bool = False
    description: str | None = None
    choices: list[str] = field(default_factory=list)
    step: str = "any"
    value: str = ""

    @property
    def input_name(self) -> str:
        return PREFIX + self.name


def _widget(prop: dict[str, Any]) -> tuple[str, list[str], str]:
    if "enum" in prop and isinstance(prop["enum"], list):
        return "select", [json.dumps(v) if not isinstance(v, str) else v for v in prop["enum"]], ""
    kind = prop.get("type")
    if kind == "string":
        long = prop.get("format") == "textarea" or int(prop.get("maxLength") or 0) > 200
        return ("textarea" if long else "text"), [], ""
    if kind in ("number", "integer"):
        return "number", [], "1" if kind == "integer" else "any"
    if kind == "boolean":
        return "checkbox", [], ""
    return "json", [], ""


def fields(schema: dict[str, Any] | None, values: Mapping[str, Any] | None = None) -> list[Field]:
    """The inputs of `schema` (empty without a form), pre-filled with `values`."""
    if not schema or not isinstance(schema.get("properties"), dict):
        return []
    required = set(schema.get("required") or [])
    out = []
    for name, prop in schema["properties"].items():
        prop = prop if isinstance(prop, dict) else {}
        widget, choices, step = _widget(prop)
        f = Field(
            name=name,
            label=str(prop.get("title") or name.replace("_", " ").capitalize()),
            widget=widget,
            required=name in required,
            description=prop.get("description"),
            choices=choices,
            step=step or "any",
        )
        if values and name in values:
            v = values[name]
            f.value = v if isinstance(v, str) else json.dumps(v)
        out.append(f)
    return out


class FormInputError(ValueError):
    def __init__(self, errors: list[tuple[str, str]]) -> None:
        super().__init__(errors[0][1])
        self.errors = errors


def parse(schema: dict[str, Any] | None, posted: dict[str, str]) -> dict[str, Any] | None:
    """Posted `f.<name>` values → form data (None without a form); FormInputError names
    the fields that cannot be read (e.g. `abc` in a number field)."""
    if not schema:
        return None
    raw_props = schema.get("properties")
    props: dict[str, Any] = raw_props if isinstance(raw_props, dict) else {}
    data: dict[str, Any] = {}
    errors: list[tuple[str, str]] = []
    for name, prop in props.items():
        prop = prop if isinstance(prop, dict) else {}
        widget, choices, _ = _widget(prop)
        raw = posted.get(PREFIX + name)
        if widget == "checkbox":
            data[name] = raw is not None
            continue
        if raw is None or raw.strip() == "":
            continue  # absent: `required` is the schema's call
        try:
            data[name] = _value(widget, prop, raw)
        except ValueError as e:
            errors.append((name, f"{name}: {e}"))
    if errors:
        raise FormInputError(errors)
    return data


def _value(widget: str, prop: dict[str, Any], raw: str) -> Any:
    if widget == "number":
        if prop.get("type") == "integer":
            try:
                return int(raw)
            except ValueError:
                raise ValueError(f"{raw!r} is not a whole number") from None
        try:
            number = float(raw)
        except ValueError:
            raise ValueError(f"{raw!r} is not a number") from None
        return int(number) if number.is_integer() and "." not in raw else number
    if widget == "select":
        for option in prop["enum"]:
            if (option if isinstance(option, str) else json.dumps(option)) == raw:
                return option
        raise ValueError(f"{raw!r} is not one of the choices")
    if widget == "json":
        try:
            return json.loads(raw)
        except json.JSONDecodeError as e:
            raise ValueError(f"not valid JSON ({e.msg})") from None
    return raw
