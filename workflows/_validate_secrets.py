"""Save-time trust rules (SPEC §8): where `secret:NAME` may stand, and `connection:` names.

Pure functions over a parsed template and the action-models mapping the validator
already has (no import of `activities/`: an action's secret fields are read from its
params model as data — the JSON-Schema flag ``x-relayflow-secret`` on the field).

- ``secret:NAME`` is accepted only as the whole value of a field its action declares
  secret (built-ins: ``webhook.secret``, ``slack.url``). Anywhere else — other ``with:``
  fields (headers, json, body, url, params), texts, expressions, ``set``, subflow
  input, outputs, SLA notifications — it is a finding at that field:
  ``steps[0].with.headers.Authorization: secrets can only be sent through a connection``.
- For actions whose params have both ``url`` and ``connection`` (``http``, ``webhook``):
  exactly one of them; ``path`` only with ``connection``; ``connection`` is a literal
  name that must exist (when the caller passes ``connection_exists``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from pydantic import BaseModel

from workflows.model import SlaLevel, Step, Template

Add = Callable[[str, str], None]
ActionModels = Mapping[str, type[BaseModel] | None]
Exists = Callable[[str], bool]

SECRET_FLAG = "x-relayflow-secret"
NOT_HERE = "secrets can only be sent through a connection"
_ANY_SECRET = re.compile(r"secret:[A-Za-z_]")
_EXACT = re.compile(r"^secret:[A-Za-z_][A-Za-z0-9_]*$")
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
BOTH = "give either `url` or `connection` (+ `path`), not both"
NEITHER = "give `url` or `connection` (+ `path`)"
PATH_ALONE = "`path` needs `connection` (with `url`, put the path in the URL)"


def secret_fields(model: type[BaseModel] | None) -> frozenset[str]:
    """Top-level params fields declared secret (``json_schema_extra`` carries the flag)."""
    if model is None:
        return frozenset()
    found = set()
    for name, info in model.model_fields.items():
        extra = info.json_schema_extra
        if isinstance(extra, Mapping) and extra.get(SECRET_FLAG):
            found.add(info.alias or name)
    return frozenset(found)


def takes_connection(model: type[BaseModel] | None) -> bool:
    """Does the action take ``connection`` (+ ``path``) instead of ``url``?"""
    return model is not None and {"url", "connection"} <= set(model.model_fields)


def _path(loc: str, key: Any) -> str:
    if isinstance(key, int):
        return f"{loc}[{key}]"
    return f"{loc}.{key}" if _IDENT.match(str(key)) else f"{loc}[{str(key)!r}]"


def _scan(value: Any, loc: str, add: Add) -> None:
    """A finding for every string under ``value`` that mentions ``secret:NAME``."""
    if isinstance(value, str):
        if _ANY_SECRET.search(value):
            add(loc, NOT_HERE)
    elif isinstance(value, Mapping):
        for k, v in value.items():
            _scan(v, _path(loc, k), add)
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            _scan(v, _path(loc, i), add)


def _dump(model: BaseModel, exclude: set[str]) -> Any:
    try:
        return model.model_dump(by_alias=True, exclude_none=True, exclude=exclude, warnings=False)
    except Exception:  # a best-effort placeholder that does not dump: nothing to scan
        return {}


class _Rules:
    def __init__(self, actions: ActionModels, exists: Exists | None, add: Add) -> None:
        self.actions, self.exists, self.add = actions, exists, add
        self.refs: dict[str, str] = {}

    def call(self, action: str | None, with_: Mapping[str, Any] | None, wloc: str) -> None:
        model = self.actions.get(action or "")
        declared = secret_fields(model)
        params = with_ or {}
        for key, value in params.items():
            loc = _path(wloc, key)
            if key in declared:
                if isinstance(value, str) and _ANY_SECRET.search(value) and not _EXACT.match(value):
                    self.add(loc, "write a secret as the whole value: `secret:NAME`")
                elif not isinstance(value, str):
                    _scan(value, loc, self.add)
            else:
                _scan(value, loc, self.add)
        if takes_connection(model):
            self.target(params, wloc)

    def target(self, params: Mapping[str, Any], wloc: str) -> None:
        has_url, has_conn = "url" in params, "connection" in params
        if has_url and has_conn:
            self.add(wloc, BOTH)
        elif not has_url and not has_conn:
            self.add(wloc, NEITHER)
        if "path" in params and not has_conn:
            self.add(wloc, PATH_ALONE)
        if not has_conn:
            return
        name, loc = params["connection"], f"{wloc}.connection"
        if not isinstance(name, str) or not name or "${{" in name:
            self.add(loc, "connection must be a literal connection name (no expressions)")
            return
        self.refs.setdefault(name, loc)
        if self.exists is not None and not self.exists(name):
            self.add(
                loc,
                f"unknown connection '{name}' (connections are defined by an admin: "
                "POST /connections)",
            )

    def level(self, level: SlaLevel, loc: str) -> None:
        _scan(_dump(level, {"notify"}), loc, self.add)
        if level.notify is not None:
            self.call(level.notify.action, level.notify.with_, f"{loc}.notify.with")

    def steps(self, steps: list[Step], prefix: str) -> None:
        for i, step in enumerate(steps):
            loc = f"{prefix}[{i}]"
            _scan(_dump(step, {"with_", "sla", "foreach", "loop"}), loc, self.add)
            if step.action is not None:
                self.call(step.action, step.with_, f"{loc}.with")
            elif step.with_:
                _scan(step.with_, f"{loc}.with", self.add)
            for j, level in enumerate(step.sla or []):
                self.level(level, f"{loc}.sla[{j}]")
            for kind in ("foreach", "loop"):
                body = getattr(step, kind, None)
                if body is not None:
                    _scan(_dump(body, {"steps"}), f"{loc}.{kind}", self.add)
                    self.steps(body.steps, f"{loc}.{kind}.steps")


def check_trust(
    template: Template, actions: ActionModels, connection_exists: Exists | None, add: Add
) -> None:
    """Every `secret:` outside a declared secret field, and every bad `connection:`."""
    rules = _Rules(actions, connection_exists, add)
    _scan(template.input_schema, "input_schema", add)
    for j, level in enumerate(template.sla or []):
        rules.level(level, f"sla[{j}]")
    rules.steps(list(template.steps or []), "steps")
    _scan(template.outputs, "outputs", add)


def connection_refs(template: Template, actions: ActionModels) -> dict[str, str]:
    """Connection name → the first place (loc) a step or SLA notification uses it."""
    rules = _Rules(actions, None, lambda _loc, _msg: None)
    for j, level in enumerate(template.sla or []):
        rules.level(level, f"sla[{j}]")
    rules.steps(list(template.steps or []), "steps")
    return rules.refs


def iter_secret_fields(actions: ActionModels) -> Iterator[tuple[str, str]]:
    """(action, field) for every declared secret field (docs, `GET /actions`)."""
    for name, model in sorted(actions.items()):
        for f in sorted(secret_fields(model)):
            yield name, f
