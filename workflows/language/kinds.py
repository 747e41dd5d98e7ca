"""What a step kind is, and the registry the language reads kinds from.

A kind is one module, `workflows/kinds/<kind>.py`, exporting `KIND = Kind(...)`: its
step model (a `StepBase` subclass whose kind key is a required field), its save-time
rules (`check`), its runtime (`run`), its Mermaid shape and how it describes itself.
`workflows/kinds/__init__.py` lists the built-in kinds (`KINDS`) and registers them
here; the step union, validation dispatch, the graph, nested-step walking and the
JSON Schema all read this registry, so the language never names a kind itself.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from workflows.language.model import STEP_MODELS, StepBase, rebuild_models

#: Mermaid node brackets of an ordinary step (kinds with a body draw a subgraph)
RECTANGLE = ('["', '"]')


def _describe(step: Any) -> str:
    return str(step.kind)


@dataclass(frozen=True, eq=False)
class Kind:
    """One step kind. Callables take the kind's own step model (typed `Any` here)."""

    #: the step model; its `kind` class variable is the kind key
    model: type[StepBase]
    #: the runtime: `async (ctx: StepContext, step) -> output` (see workflows.engine.context)
    run: Callable[[Any, Any], Awaitable[Any]]
    #: save-time rules: `(checker, step, loc, scope)` with the `Checker` and `Scope` of
    #: workflows.language.checker; common fields and nested bodies are checked for it
    check: Callable[[Any, Any, str, Any], None] | None = None
    #: the Mermaid label's second line (or a body's subgraph title)
    describe: Callable[[Any], str] = _describe
    shape: tuple[str, str] = RECTANGLE
    #: compile-time defaults, applied to a copy of the step (e.g. an action's retry policy)
    prepare: Callable[[Any], None] | None = None
    #: `retry` and `timeout` (per attempt) apply to this kind
    retries: bool = False
    #: for steps people decide (approvals): their outcomes; SLA `reassign`/`decide`
    #: and the `task` name apply to such steps only
    outcomes: Callable[[Any], list[str]] | None = None
    #: the `vars` keys a step of this kind writes (`set`)
    writes: Callable[[Any], list[str]] | None = None
    #: `on_failure: hold` applies to steps of this kind (false for `fail`, a deliberate
    #: end; kinds with a body never hold themselves: their nested steps do)
    holds: bool = True

    @property
    def key(self) -> str:
        return self.model.kind


_KINDS: dict[str, Kind] = {}


def register(*kinds: Kind) -> None:
    """Add kinds (or replace one of the same key) and rebuild the step union."""
    for kind in kinds:
        if not kind.key:
            raise ValueError(f"{kind.model.__name__}.kind must name the kind key")
        names = {info.alias or name for name, info in kind.model.model_fields.items()}
        if kind.key not in names:
            raise ValueError(f"{kind.model.__name__} needs a field written {kind.key!r}")
        _KINDS[kind.key] = kind
        STEP_MODELS[kind.key] = kind.model
    rebuild_models()


def unregister(key: str) -> None:
    """Remove a kind (tests that add a toy kind clean up with this)."""
    _KINDS.pop(key, None)
    STEP_MODELS.pop(key, None)
    rebuild_models()


def kind_of(step: StepBase) -> Kind:
    """The registered kind of a parsed step."""
    return _KINDS[step.kind]


def get(key: str) -> Kind | None:
    return _KINDS.get(key)


def keys() -> list[str]:
    """The kind keys, in registration order."""
    return list(_KINDS)


def fields_of_other_kinds(field: str) -> list[str]:
    """Kinds whose step model has `field` (to explain an unknown field on another kind)."""
    return [
        k.key
        for k in _KINDS.values()
        if any(field in (name, info.alias) for name, info in k.model.model_fields.items())
        and not any(field in (n, i.alias) for n, i in StepBase.model_fields.items())
    ]
