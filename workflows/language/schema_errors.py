"""Translate pydantic validation errors on a template into (loc, msg) pairs people read.

pydantic reports `('steps', 3, 'approval', 'quorum', 'int')`; users want
`steps[3].approval.quorum` and one sentence. The loc is walked through the model
classes, so union-member tags (`int`, `literal['all']`, `function-after[...]`, the
step kind chosen by the discriminator) are dropped and field aliases are shown as
written (`with`, `set`).
"""

from __future__ import annotations

import difflib
import re
import types
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from workflows.language import kinds
from workflows.language.model import STEP_MODELS, AnyStep

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _strip(tp: Any) -> Any:
    """Unwrap Annotated[...] and Optional/unions that hold exactly one model or container."""
    while get_origin(tp) is Annotated:
        tp = get_args(tp)[0]
    if get_origin(tp) in (Union, types.UnionType):
        members = [_strip(a) for a in get_args(tp) if a is not type(None)]
        structured = [
            m
            for m in members
            if (isinstance(m, type) and issubclass(m, BaseModel)) or get_origin(m) in (list, dict)
        ]
        if len(structured) == 1:
            return structured[0]
        return tp
    return tp


def _field(model: type[BaseModel], part: str) -> tuple[str, Any] | None:
    """(display name, annotation) of `part` on `model`, by field name or alias."""
    for name, info in model.model_fields.items():
        if part in (name, info.alias):
            return (info.alias or name, info.annotation)
    return None


def field_names(model: type[BaseModel]) -> list[str]:
    """The names users write for a model's fields (aliases where set)."""
    return [info.alias or name for name, info in model.model_fields.items()]


def _join(parts: list[str]) -> str:
    out = ""
    for p in parts:
        if p.startswith("["):
            out += p
        else:
            out += ("." if out else "") + p
    return out


def clean_loc(
    root: type[BaseModel], loc: tuple[Any, ...], *, extra: bool = False
) -> tuple[str, Any]:
    """Dotted loc for a pydantic loc tuple, plus the model at the last segment (or None)."""
    parts: list[str] = []
    tp: Any = root
    owner: Any = None
    for i, part in enumerate(loc):
        tp = _strip(tp)
        last = i == len(loc) - 1
        if tp is AnyStep:  # the step union: `part` is the kind chosen by the discriminator
            tp = STEP_MODELS.get(str(part), tp)
            continue
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            found = _field(tp, str(part))
            if found is not None:
                owner = tp
                parts.append(found[0])
                tp = found[1]
            elif extra and last:
                owner = tp
                parts.append(str(part))
            # else: a union-member tag; skip it
        elif get_origin(tp) is list and isinstance(part, int):
            parts.append(f"[{part}]")
            tp = get_args(tp)[0]
        elif get_origin(tp) is dict:
            key = str(part)
            parts.append(key if _IDENT.match(key) else f"[{key!r}]")
            tp = get_args(tp)[1]
        elif isinstance(part, int):
            parts.append(f"[{part}]")
        # strings under a non-structured type are union tags: skip
    return _join(parts), owner


_SPECIAL_MISSING = {
    "max_iterations": "a loop needs max_iterations (an upper bound on iterations)",
    "steps": "at least one step is required",
}


def _kind_keys(step: Any) -> str:
    """The step-kind message for a step with no kind key or several."""
    if not isinstance(step, dict):
        return f"must be a mapping, got {type(step).__name__}"
    found = [k for k in STEP_MODELS if step.get(k) is not None]
    if not found:
        return f"a step needs exactly one kind key ({', '.join(STEP_MODELS)}); found none"
    return f"a step has exactly one kind key; found {' and '.join(found)}"


def _message(err: Any, owner: Any, loc: str) -> str:
    kind = err["type"]
    msg = str(err["msg"])
    field = loc.rsplit(".", 1)[-1] if loc else ""
    if kind == "step_kind":
        return _kind_keys(err.get("input"))
    if kind == "extra_forbidden" and owner in STEP_MODELS.values():
        others = kinds.fields_of_other_kinds(field)
        if others:
            return f"{field}: applies to {' and '.join(others)} steps only"
    if kind == "extra_forbidden":
        text = f"unknown field '{field}'"
        if isinstance(owner, type) and issubclass(owner, BaseModel):
            allowed = field_names(owner)
            close = difflib.get_close_matches(field, allowed, n=1)
            if close:
                text += f" (did you mean '{close[0]}'?)"
            else:
                text += f" (allowed: {', '.join(allowed)})"
        return text
    if kind == "missing":
        return _SPECIAL_MISSING.get(field, f"required field '{field}' is missing")
    if kind == "string_pattern_mismatch":
        value = err.get("input")
        if field == "id":
            return f"invalid step id {value!r}: use lowercase letters, digits and _, starting with a letter or _"
        if field in ("name", "template"):
            return f"invalid template name {value!r}: use lowercase letters, digits and -, starting with a letter or digit"
    if kind == "too_short" and field == "steps":
        return "at least one step is required"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"must be a mapping, got {type(err.get('input')).__name__}"
    if kind == "string_type" and isinstance(err.get("input"), bool):
        return (
            f"expected a string, got {str(err['input']).lower()}: YAML reads unquoted "
            "yes/no/on/off/true/false as booleans, so quote the value"
        )
    if kind.startswith("literal_error"):
        return f"{msg} (got {err.get('input')!r})"
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    return msg


def translate(root: type[BaseModel], error: ValidationError) -> list[tuple[str, str]]:
    """(loc, msg) pairs for every error; errors of one union at one loc are merged."""
    merged: dict[str, list[str]] = {}
    for err in error.errors(include_url=False):
        loc, owner = clean_loc(root, tuple(err["loc"]), extra=err["type"] == "extra_forbidden")
        text = _message(err, owner, loc)
        bucket = merged.setdefault(loc, [])
        if text not in bucket:
            bucket.append(text)
    out: list[tuple[str, str]] = []
    for loc, msgs in merged.items():
        if loc.endswith("quorum") and len(msgs) > 1:
            out.append((loc, "quorum must be a positive integer or 'all'"))
        else:
            out.append((loc, "; or ".join(msgs)))
    return out
