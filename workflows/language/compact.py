"""Smaller JSON for models that travel in workflow histories (the start input of a run).

`compact(model, data)` drops from `data` (the model's own serialization) every field
whose value is *absent*: null, `[]` or `{}`, and equal to the field's default — so
decoding the smaller JSON gives back an equal model. Only model fields are touched
(recursing through nested models, lists and dicts of models), never the contents of
free-form values (`with:`, `input`, `outputs`). Defaults that mean something (a retry
policy, `run_if`) are kept: the history still shows the effective policy, and a run
keeps its plan if a default ever changes.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

_EMPTY_DEFAULTS: dict[type[BaseModel], dict[str, Any]] = {}


def _empty_defaults(cls: type[BaseModel]) -> dict[str, Any]:
    """Field name -> default, for the fields of `cls` whose default is null, [] or {}."""
    found = _EMPTY_DEFAULTS.get(cls)
    if found is None:
        found = {}
        for name, info in cls.model_fields.items():
            if info.is_required():
                continue
            default = info.get_default(call_default_factory=True)
            if default is None or (type(default) in (list, dict) and not default):
                found[name] = default
        _EMPTY_DEFAULTS[cls] = found
    return found


def compact(model: BaseModel, data: Any) -> Any:
    """`data` (what `model` serialized to) without its absent fields; returns `data`."""
    if not isinstance(data, dict):
        return data
    droppable = _empty_defaults(type(model))
    for name, info in type(model).model_fields.items():
        key = name if name in data else (info.serialization_alias or info.alias)
        if key is None or key not in data:
            continue
        value = getattr(model, name)
        if name in droppable and type(value) is type(droppable[name]) and value == droppable[name]:
            del data[key]
        elif isinstance(value, BaseModel):
            compact(value, data[key])
        elif isinstance(value, list) and isinstance(data[key], list):
            for item, out in zip(value, data[key], strict=False):
                if isinstance(item, BaseModel):
                    compact(item, out)
        elif isinstance(value, dict) and isinstance(data[key], dict):
            for k, item in value.items():
                if isinstance(item, BaseModel) and k in data[key]:
                    compact(item, data[key][k])
    return data
