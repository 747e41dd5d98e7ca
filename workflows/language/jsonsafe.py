"""JSON-shaped data only: strict JSON parsing, and one check for values from any parser.

Templates, run input and webhook bodies are stored as JSON (the database's JSON
columns) and travel as JSON (Temporal payloads). Values JSON cannot carry
faithfully are refused where the data comes in, naming the spot, instead of
being stored and failing later for every reader (a 500 on each `GET`, a run
whose input the worker cannot decode):

- NaN and ±Infinity, including numbers that overflow to infinity (`1e400`);
- lone UTF-16 surrogates (`"\\ud800"`): no UTF-8 encoding exists for them;
- nesting deeper than a limit (`max_depth`; a scalar at the top is depth 0,
  `{"a": 1}` is depth 1);
- mapping keys that are not strings (only YAML can produce those).

Pure and deterministic (no I/O): the loader, the API and the workflow may use it.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

#: default nesting limit for documents (templates, request bodies)
MAX_DEPTH = 64

_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


class UnsafeJSON(ValueError):
    """A value JSON cannot carry, or one nested too deeply; `where` is a path like `$.a[0]`."""

    def __init__(self, problem: str, where: str = "$") -> None:
        self.problem = problem
        self.where = where
        super().__init__(f"{where}: {problem}" if where != "$" else problem)


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise UnsafeJSON(f"the number {text[:40]} is too large (not a finite number)")
    return value


def _constant(name: str) -> Any:
    raise UnsafeJSON(f"{name} is not a JSON number (NaN and Infinity are not allowed)")


def loads(text: str | bytes, *, max_depth: int = MAX_DEPTH) -> Any:
    """`json.loads` that refuses NaN/Infinity, overflowing numbers, lone surrogates and
    nesting deeper than `max_depth` (`UnsafeJSON`; syntax errors stay `json.JSONDecodeError`)."""
    if isinstance(text, bytes | bytearray):
        text = bytes(text).decode("utf-8")  # UnicodeDecodeError for bytes that are not UTF-8
    try:
        value = json.loads(text, parse_constant=_constant, parse_float=_finite)
    except RecursionError:
        raise UnsafeJSON(f"nested too deeply (more than {max_depth} levels)") from None
    # the walk is only needed when the text could hold what it looks for
    deep = text.count("[") + text.count("{") > max_depth
    if deep or _SURROGATE_ESCAPE.search(text):
        check(value, max_depth=max_depth)
    return value


def _path(keys: list[Any]) -> str:
    out = "$"
    for k in keys:
        out += f"[{k}]" if isinstance(k, int) else f".{k}"
    return out


def _bad_string(s: str) -> bool:
    if s.isascii():
        return False
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _scalar_problem(value: Any) -> str | None:
    if isinstance(value, str):
        if _bad_string(value):
            return "contains a lone surrogate (\\ud800-\\udfff), which is not valid Unicode text"
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return f"{value} is not a JSON number (NaN and Infinity are not allowed)"
    return None


def check(value: Any, *, max_depth: int = MAX_DEPTH, where: str = "$") -> None:
    """Raise `UnsafeJSON` for the first value JSON cannot carry faithfully (see the module doc).

    Iterative, so a value nested far deeper than Python's recursion limit is reported too.
    """
    # (value, depth, keys-so-far); paths are built only for what is pushed, cheaply shared
    stack: list[tuple[Any, int, list[Any]]] = [(value, 0, [])]
    while stack:
        node, depth, keys = stack.pop()
        if isinstance(node, Mapping) or isinstance(node, list | tuple):
            if depth + 1 > max_depth:
                raise UnsafeJSON(f"nested too deeply (more than {max_depth} levels)", _join(where, keys))
            if isinstance(node, Mapping):
                for k, v in node.items():
                    if not isinstance(k, str):
                        raise UnsafeJSON(
                            f"mapping key {k!r} is not a string (quote it)", _join(where, keys)
                        )
                    if _bad_string(k):
                        raise UnsafeJSON(
                            "a key contains a lone surrogate (\\ud800-\\udfff)", _join(where, keys)
                        )
                    if isinstance(v, Mapping | list | tuple):
                        stack.append((v, depth + 1, [*keys, k]))
                    elif (p := _scalar_problem(v)) is not None:
                        raise UnsafeJSON(p, _join(where, [*keys, k]))
            else:
                for i, v in enumerate(node):
                    if isinstance(v, Mapping | list | tuple):
                        stack.append((v, depth + 1, [*keys, i]))
                    elif (p := _scalar_problem(v)) is not None:
                        raise UnsafeJSON(p, _join(where, [*keys, i]))
        elif (p := _scalar_problem(node)) is not None:
            raise UnsafeJSON(p, _join(where, keys))


def _join(where: str, keys: list[Any]) -> str:
    path = where + _path(keys)[1:]
    return path if len(path) <= 80 else path[:77] + "..."


def depth(value: Any) -> int:
    """Nesting depth of a JSON-shaped value (iterative; a scalar is 0)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        node, d = stack.pop()
        if isinstance(node, Mapping):
            deepest = max(deepest, d + 1)
            stack.extend((v, d + 1) for v in node.values())
        elif isinstance(node, list | tuple):
            deepest = max(deepest, d + 1)
            stack.extend((v, d + 1) for v in node)
    return deepest
