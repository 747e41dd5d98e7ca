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

#: per model class: (field name, serialized key, alias, empty default or _KEEP)
_SPECS: dict[type[BaseModel], list[tuple[str, str, str | None, Any]]] = {}
_KEEP = object()


def _spec(cls: type[BaseModel]) -> list[tuple[str, str, str | None, Any]]:
    found = _SPECS.get(cls)
    if found is None:
        found = []
        for name, info in cls.model_fields.items():
            empty: Any = _KEEP
            if not info.is_required():
                default = info.get_default(call_default_factory=True)
                if default is None or (type(default) in (list, dict) and not default):
                    empty = default
            found.append((name, name, info.serialization_alias or info.alias, empty))
        _SPECS[cls] = found
    return found


def compact(model: BaseModel, data: Any, deep: bool = True) -> Any:
    """`data` (what `model` serialized to) without its absent fields; returns `data`.

    `deep=False`: this model's own fields only (nested models compact themselves).
    """
    if not isinstance(data, dict):
        return data
    for name, key, alias, empty in _spec(type(model)):
        out = data.get(key, _KEEP)
        if out is _KEEP:
            if alias is None or alias not in data:
                continue
            key, out = alias, data[alias]
        if empty is not _KEEP and type(out) is type(empty) and out == empty:
            del data[key]
        elif deep and type(out) in (dict, list):
            value = getattr(model, name)
            if isinstance(value, BaseModel):
                compact(value, out)
            elif type(value) is list:
                for item, sub in zip(value, out, strict=False):
                    if isinstance(item, BaseModel):
                        compact(item, sub)
            elif type(value) is dict:
                for k, item in value.items():
                    if isinstance(item, BaseModel) and k in out:
                        compact(item, out[k])
    return data
