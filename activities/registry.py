"""The action registry: how a plain async function becomes a relayflow action (SPEC §4).

An action is written once, as ``async def fn(params: P, ctx: ActionContext) -> dict``,
and registered with the `action` decorator under the name templates use in
``action: NAME``. The decorator returns a Temporal activity of that name that
takes the workflow's `ActionRequest` and runs ``fn`` through `activities.invoke`
(secrets resolved and redacted, params validated, heartbeats, classified errors,
metrics). `ActionContext` is defined in `activities.context` and re-exported here:
action authors import ``action`` and ``ActionContext`` from this module (docs/actions.md).

`all_activities()` is what the worker registers: the built-in actions, those
published by installed packages through the ``relayflow.actions`` entry-point
group, and any other function decorated with `action`. `action_models()` gives
the validator each action's params model, so unknown ``with:`` fields are
rejected when a template is saved.
"""

from __future__ import annotations

import importlib
import logging
import re
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from types import ModuleType
from typing import Any, TypeVar

from pydantic import BaseModel
from temporalio import activity

from activities.context import ActionContext, ActionFn
from activities.invoke import wrap
from workflows.engine.io import ActionRequest

log = logging.getLogger("relayflow.actions")

ENTRY_POINT_GROUP = "relayflow.actions"
#: modules whose import registers the built-in actions
BUILTIN_MODULES = (
    "activities.http",
    "activities.email",
    "activities.slack",
    "activities.webhook",
    "activities.log",
)
#: modules of internal (non-template) activities the worker also needs: their plain
#: `@activity.defn` functions are part of `all_activities()` but not of `action_models()`
INTERNAL_MODULES = (
    "activities.assignees",
    "activities.task_notify",
    "activities.subscriptions",
)


P = TypeVar("P", bound=BaseModel)


@dataclass(frozen=True)
class ActionSpec:
    """A registered action: its name, params model, implementation and Temporal activity."""

    name: str
    params: type[BaseModel]
    fn: ActionFn
    activity: Callable[[ActionRequest], Awaitable[dict[str, Any]]]


_ACTIONS: dict[str, ActionSpec] = {}
_loaded = False
_loading = False
#: validation runs in threads: the first caller loads, the others wait for it to finish
_load_lock = threading.RLock()


def action(name: str, params: type[P]) -> Callable[[ActionFn], Callable[..., Any]]:
    """Register ``fn(params: P, ctx: ActionContext)`` as the action (and activity) ``name``.

    ``fn`` may be async (preferred) or sync (run in a thread). It returns a JSON-able
    mapping, a pydantic model or None (→ ``{}``); that is the step's ``output``.
    The decorated object is the Temporal activity; ``.action`` holds its `ActionSpec`.
    """
    if not re.fullmatch(r"[a-z][a-z0-9_.-]*", name):
        raise ValueError(f"action name {name!r} must match [a-z][a-z0-9_.-]*")
    if not (isinstance(params, type) and issubclass(params, BaseModel)):
        raise TypeError(f"action {name!r}: params must be a pydantic model class")

    def decorate(fn: ActionFn) -> Callable[..., Any]:
        run = wrap(name, params, fn)
        run.__name__ = run.__qualname__ = f"action_{name.replace('-', '_').replace('.', '_')}"
        run.__doc__ = fn.__doc__
        run.__module__ = fn.__module__
        defined = activity.defn(name=name)(run)
        spec = ActionSpec(name=name, params=params, fn=fn, activity=defined)
        defined.action = spec  # type: ignore[attr-defined]
        _register(spec)
        return defined

    return decorate


def all_activities() -> list[Callable[..., Any]]:
    """Every activity for the worker: actions (built-in, entry points, decorated) + internal ones."""
    _load()
    found = {spec.name: spec.activity for spec in _ACTIONS.values()}
    for module in INTERNAL_MODULES:
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                log.exception("could not import internal activities from %s", module)
            continue
        except Exception:
            log.exception("could not import internal activities from %s", module)
            continue
        for value in vars(mod).values():
            defn = getattr(value, "__temporal_activity_definition", None)
            if defn is not None and defn.name and defn.name not in found:
                found[defn.name] = value
    return list(found.values())


def action_models() -> dict[str, type[BaseModel]]:
    """Action name → params model (the validator checks ``with:`` against these)."""
    _load()
    return {name: spec.params for name, spec in _ACTIONS.items()}


def get_action(name: str) -> ActionSpec | None:
    """The registered action called ``name``, if any."""
    _load()
    return _ACTIONS.get(name)


# -- registration ---------------------------------------------------------------------


def _register(spec: ActionSpec) -> None:
    existing = _ACTIONS.get(spec.name)
    if existing is not None and _origin(existing.fn) != _origin(spec.fn):
        raise ValueError(
            f"action {spec.name!r} is already registered by {_origin(existing.fn)}; "
            f"cannot register {_origin(spec.fn)} under the same name"
        )
    _ACTIONS[spec.name] = spec


def _origin(fn: Any) -> str:
    return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', repr(fn))}"


def _load() -> None:
    """Import the built-ins and every ``relayflow.actions`` entry point, once per process.

    Under a lock, and marked loaded only when done: concurrent first callers (threads
    validating templates) all see the complete registry (one saw an empty one before)."""
    global _loaded, _loading
    if _loaded:
        return
    with _load_lock:
        if _loaded or _loading:  # done meanwhile, or re-entered by an importing module
            return
        _loading = True
        try:
            for module in BUILTIN_MODULES:
                importlib.import_module(module)
            for ep in entry_points(group=ENTRY_POINT_GROUP):
                _load_entry_point(ep)
            _loaded = True
        finally:
            _loading = False


def _load_entry_point(ep: EntryPoint) -> None:
    """Import one entry point: an @action function, or a module full of them. Never raises."""
    try:
        obj = ep.load()
    except Exception:
        log.exception("could not load relayflow action entry point %r (%s)", ep.name, ep.value)
        return
    if isinstance(obj, ModuleType):
        if not any(isinstance(getattr(v, "action", None), ActionSpec) for v in vars(obj).values()):
            log.error("entry point %r: module %s defines no @action", ep.name, obj.__name__)
        return
    spec = getattr(obj, "action", None)
    if not isinstance(spec, ActionSpec):
        log.error(
            "entry point %r (%s) is neither an @action function nor a module", ep.name, ep.value
        )
    elif ep.name != spec.name:
        log.warning("entry point %r registers the action %r", ep.name, spec.name)


__all__ = [
    "ActionContext",
    "ActionSpec",
    "action",
    "action_models",
    "all_activities",
    "get_action",
]
