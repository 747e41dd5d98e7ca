"""Save-time trust rules (SPEC §8): where `secret:NAME` may stand, and `connection:` names.

An action declares its secret fields in its params model, as data: the JSON-Schema
flag ``x-relayflow-secret`` on the field (built-ins: ``webhook.secret``,
``slack.url``), so the language reads it without importing the actions.

- ``secret:NAME`` is accepted only as the whole value of a declared secret field.
  Anywhere else — other ``with:`` fields (headers, json, body, url, params), texts,
  expressions, ``set``, subflow input, outputs, SLA notifications — it is a finding
  at that place: ``steps[0].with.headers.Authorization: secrets can only be sent
  through a connection``. The checker records the declared places it met
  (`Checker.secret_slots`); `scan` then looks at everything else.
- Actions whose params have both ``url`` and ``connection`` (``http``, ``webhook``):
  exactly one of them; ``path`` only with ``connection``; ``connection`` is a literal
  name that must exist (when the validator was given ``connection_exists``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import BaseModel

SECRET_FLAG = "x-relayflow-secret"
NOT_HERE = "secrets can only be sent through a connection"
WHOLE_VALUE = "write a secret as the whole value: `secret:NAME`"
BOTH = "give either `url` or `connection` (+ `path`), not both"
NEITHER = "give `url` or `connection` (+ `path`)"
PATH_ALONE = "`path` needs `connection` (with `url`, put the path in the URL)"
_ANY_SECRET = re.compile(r"secret:[A-Za-z_]")
_EXACT = re.compile(r"^secret:[A-Za-z_][A-Za-z0-9_]*$")
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
#: free text for people, never sent anywhere by an action
_NOT_SCANNED = frozenset({"description"})

Add = Callable[[str, str], None]


def secret_fields(model: type[BaseModel] | None) -> frozenset[str]:
    """Top-level params fields declared secret, as written in `with:` (aliases)."""
    if model is None:
        return frozenset()
    found = set()
    for name, info in model.model_fields.items():
        extra = info.json_schema_extra
        if isinstance(extra, Mapping) and extra.get(SECRET_FLAG):
            found.add(info.alias or name)
    return frozenset(found)


def takes_connection(model: type[BaseModel] | None) -> bool:
    """Does the action take ``connection`` (+ ``path``) as an alternative to ``url``?"""
    return model is not None and {"url", "connection"} <= set(model.model_fields)


def mentions_secret(value: Any) -> bool:
    return isinstance(value, str) and bool(_ANY_SECRET.search(value))


def secret_value_problem(value: Any) -> str | None:
    """What is wrong with a declared secret field's value (None when fine)."""
    if isinstance(value, str) and mentions_secret(value) and not _EXACT.match(value):
        return WHOLE_VALUE
    return None


def target_problems(params: Mapping[str, Any]) -> list[str]:
    """`url` / `connection` / `path` of one call that cannot work together."""
    has_url, has_conn = "url" in params, "connection" in params
    problems = []
    if has_url and has_conn:
        problems.append(BOTH)
    elif not has_url and not has_conn:
        problems.append(NEITHER)
    if "path" in params and not has_conn:
        problems.append(PATH_ALONE)
    return problems


def connection_problem(name: Any, exists: Callable[[str], bool] | None) -> str | None:
    if not isinstance(name, str) or not name or "${{" in name:
        return "connection must be a literal connection name (no expressions)"
    if exists is not None and not exists(name):
        return (
            f"unknown connection '{name}' (connections are defined by an admin: POST /connections)"
        )
    return None


def _path(loc: str, key: Any) -> str:
    if isinstance(key, int):
        return f"{loc}[{key}]"
    if not loc:
        return str(key)
    return f"{loc}.{key}" if _IDENT.match(str(key)) else f"{loc}[{str(key)!r}]"


def scan(value: Any, loc: str, allowed: frozenset[str] | set[str], add: Add) -> None:
    """A finding for every string under `value` that mentions `secret:NAME`, except at
    `allowed` places (declared secret fields) and in descriptions."""
    if loc in allowed:
        return
    if isinstance(value, str):
        if mentions_secret(value):
            add(loc, NOT_HERE)
    elif isinstance(value, Mapping):
        for k, v in value.items():
            if not (loc == "" and k in _NOT_SCANNED):
                scan(v, _path(loc, k), allowed, add)
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            scan(v, _path(loc, i), allowed, add)
