"""Data in and out of CEL for `workflows.language.expressions`: plain, JSON-shaped, deterministic.

In: tuples become lists, datetimes ISO-8601 text, pydantic models their JSON
dump (CEL refuses these types). Out: map keys sorted (CEL maps iterate in random
order), bytes base64, timestamps ISO-8601 UTC, durations `<seconds>s`.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any


def iso(value: datetime) -> str:
    """ISO-8601 in UTC with a `Z` (naive datetimes are taken as UTC)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


class Size:
    """Tracks the largest list/map met while converting (for the map()/filter() guard)."""

    __slots__ = ("largest",)

    def __init__(self) -> None:
        self.largest = 0


def to_cel(value: Any, size: Size) -> Any:
    """Plain data CEL accepts; raises TypeError for a value it cannot represent."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Mapping):
        size.largest = max(size.largest, len(value))
        return {k: to_cel(v, size) for k, v in value.items()}
    if isinstance(value, list | tuple):
        size.largest = max(size.largest, len(value))
        return [to_cel(v, size) for v in value]
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, timedelta):
        return f"{value.total_seconds():g}s"
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return to_cel(dump(mode="json"), size)
    raise TypeError(f"cannot use a {type(value).__name__} value in an expression")


def _key(k: Any) -> tuple[int, Any]:
    if isinstance(k, bool):
        return (0, k)
    if isinstance(k, int | float):
        return (1, k)
    return (2, str(k))


def to_plain(value: Any) -> Any:
    """A CEL result as plain Python with map keys sorted, recursively."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, dict):
        return {k: to_plain(value[k]) for k in sorted(value, key=_key)}
    if isinstance(value, list | tuple):
        return [to_plain(v) for v in value]
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, timedelta):
        return f"{value.total_seconds():g}s"
    name = getattr(value, "name", None)
    if callable(name):  # a CEL type value, e.g. type(1) -> "int"
        return str(name())
    return str(value)


def _largest(node: Any) -> int:
    if isinstance(node, Mapping):
        return max([len(node), *(_largest(v) for v in node.values())])
    if isinstance(node, list | tuple):
        return max([len(node), *(_largest(v) for v in node)])
    return 0


def _under(data: Mapping[str, Any], path: tuple[str | int, ...]) -> Any:
    """The value a static path (`input.items`, `steps.a.output[0]`) reaches, as far as it goes."""
    root = path[0] if path else None
    if not isinstance(root, str) or root not in data:
        return None
    node: Any = data[root]
    for key in path[1:]:
        if isinstance(node, Mapping) and key in node:
            node = node[key]
        elif isinstance(node, list | tuple) and isinstance(key, int) and 0 <= key < len(node):
            node = node[key]
        else:
            break
    return node


def largest_under(data: Mapping[str, Any], paths: list[tuple[str | int, ...]]) -> int:
    """The largest list/map an expression may range over: measured under each static path."""
    return max((_largest(_under(data, p)) for p in paths), default=0)


def _longest(node: Any) -> int:
    longest = 0
    stack = [node]
    while stack:
        v = stack.pop()
        if isinstance(v, str | bytes):
            longest = max(longest, len(v))
        elif isinstance(v, Mapping):
            stack.extend(v.values())
            stack.extend(k for k in v if isinstance(k, str))
        elif isinstance(v, list | tuple):
            stack.extend(v)
    return longest


def largest_string_under(data: Mapping[str, Any], paths: list[tuple[str | int, ...]]) -> int:
    """The longest string an expression may read: measured under each static path."""
    return max((_longest(_under(data, p)) for p in paths), default=0)
