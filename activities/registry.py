"""The action registry: how a plain async function becomes a relayflow action (SPEC §4).

An action is written once, as ``async def fn(params: P, ctx: ActionContext) -> dict``,
and registered with the `action` decorator under the name templates use in
``action: NAME``. The decorator returns a Temporal activity of that name that
takes the workflow's `ActionRequest` and, around ``fn``:

- resolves ``secret:NAME`` in the fields the params model declares secret
  (`activities.secrets`: ``RELAYFLOW_SECRET_<NAME>`` / ``SECRETS_DIR/<NAME>``, never
  from history) and the pinned connection's credentials (`activities.connections`),
  and redacts those values — also encoded — from the output, errors and log lines;
- validates the params into ``P`` (a mistake is a non-retryable error naming the field);
- heartbeats every few seconds once the call has run that long, so a workflow's
  heartbeat timeout detects a dead worker and cancellation reaches the running action;
- converts any failure into a classified `ApplicationError` (`activities.errors`).

`all_activities()` is what the worker registers: the built-in actions, those
published by installed packages through the ``relayflow.actions`` entry-point
group, and any other function decorated with `action`. `action_models()` gives
the validator each action's params model, so unknown ``with:`` fields are
rejected when a template is saved.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import logging
import re
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from importlib.metadata import EntryPoint, entry_points
from types import ModuleType
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities import metrics, outbound
from activities.connections import ResolvedConnection
from activities.connections import resolve as resolve_connection
from activities.errors import InvalidParams, NotConfigured, to_application_error
from activities.secrets import (
    current_secrets,
    redact,
    redacted_error,
    redaction_set,
    resolve_secret_fields,
)
from workflows.engine.io import ActionRequest
from workflows.language.trust import secret_fields

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
)
#: heartbeat period when the workflow set no heartbeat timeout
HEARTBEAT_EVERY = 5.0


P = TypeVar("P", bound=BaseModel)
ActionFn = Callable[[Any, "ActionContext"], Awaitable[Any] | Any]


@dataclass(frozen=True)
class ActionContext:
    """What an action knows about the call besides its params."""

    run_id: str
    step: str
    #: stable across retries and worker restarts: send it to anything with side effects
    idempotency_key: str
    #: 1 on the first try
    attempt: int
    _secrets: tuple[str, ...] = field(default=(), repr=False)
    #: the step's `connection:` (pinned at run start, its secret read now), if any
    connection: ResolvedConnection | None = field(default=None, repr=False)

    @property
    def logger(self) -> logging.LoggerAdapter[Any]:
        """Temporal's activity logger (adds run/activity ids), masking resolved secrets."""
        return _RedactingLogger(activity.logger, self._secrets)

    @property
    def http(self) -> httpx.AsyncClient:
        """The shared outbound `httpx.AsyncClient`: the egress policy applies to every call."""
        return outbound.client()

    def redact(self, value: Any) -> Any:
        """`value` with every resolved secret replaced by ``***`` (strings, lists, dicts)."""
        return redact(value, self._secrets)


class _RedactingLogger(logging.LoggerAdapter):  # type: ignore[type-arg]
    """Formats each record eagerly and masks resolved secrets (plain and encoded)."""

    def __init__(self, inner: logging.LoggerAdapter[Any], secrets: tuple[str, ...]) -> None:
        super().__init__(inner.logger, inner.extra)
        self._inner, self._secrets = inner, secrets

    def log(self, level: int, msg: Any, *args: Any, **kwargs: Any) -> None:
        if not self._inner.isEnabledFor(level):
            return
        text = str(msg) % args if args else str(msg)
        kwargs.setdefault("stacklevel", 2)
        self._inner.log(level, "%s", redact(text, self._secrets), **kwargs)


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
        is_async = inspect.iscoroutinefunction(fn)
        declared = secret_fields(params)

        async def run(req: ActionRequest) -> dict[str, Any]:
            started, outcome = time.monotonic(), "cancelled"
            try:
                with metrics.step_span(name, req.run_id, req.step):
                    result = await call(req)
                outcome = "succeeded"
                return result
            except ApplicationError as err:
                outcome = "non_retryable_error" if err.non_retryable else "retryable_error"
                raise
            finally:
                metrics.record(name, outcome, time.monotonic() - started)

        async def call(req: ActionRequest) -> dict[str, Any]:
            secrets: tuple[str, ...] = ()
            try:
                resolved, found = resolve_secret_fields(req.params, declared)
                connection = _connection(req)
                if connection is not None:
                    found |= connection.secrets
                secrets = redaction_set(found)
                parsed = _validate(name, params, resolved)
                ctx = ActionContext(
                    run_id=req.run_id,
                    step=req.step,
                    idempotency_key=req.idempotency_key,
                    attempt=activity.info().attempt,
                    _secrets=secrets,
                    connection=connection,
                )
                token = current_secrets.set(secrets)
                try:
                    async with _Heartbeat():
                        if is_async:
                            result = await fn(parsed, ctx)
                        else:
                            result = await asyncio.to_thread(fn, parsed, ctx)
                finally:
                    current_secrets.reset(token)
                return redact(_jsonable(name, result), secrets)
            except Exception as exc:  # every failure is classified here
                err = to_application_error(exc)
                if secrets:
                    err = redacted_error(err, secrets)
                if err is exc:
                    raise
                raise err from None

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


# -- what happens around every call ---------------------------------------------------


def _connection(req: ActionRequest) -> ResolvedConnection | None:
    """The pinned connection of the call with its secret read now; None without one."""
    wanted = req.params.get("connection")
    if req.connection is not None:
        return resolve_connection(req.connection)
    if isinstance(wanted, str) and wanted:
        raise NotConfigured(
            f"connection {wanted!r} was not pinned when the run started; "
            "start a new run (connections are pinned at start)"
        )
    return None


def _validate(name: str, model: type[P], params: dict[str, Any]) -> P:
    try:
        return model.model_validate(params)
    except ValidationError as exc:
        # loc + msg only: the rejected input may be a resolved secret
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(params)'}: {e['msg'].removeprefix('Value error, ')}"
            for e in exc.errors()
        )
        raise InvalidParams(f"invalid `with` for action {name!r}: {problems}") from None


def _jsonable(name: str, result: Any) -> dict[str, Any]:
    if result is None:
        return {}
    if isinstance(result, BaseModel):
        return result.model_dump(mode="json")
    if isinstance(result, Mapping):
        return dict(result)
    raise TypeError(f"action {name!r} returned {type(result).__name__}, expected a mapping")


class _Heartbeat:
    """Heartbeat in the background while the action runs — once it runs for a while.

    Period: a third of the workflow's heartbeat timeout (at most `HEARTBEAT_EVERY`).
    The first heartbeat is due one period after the start, well inside the timeout, so
    a call that ends sooner (most do) costs one timer handle instead of a task started,
    cancelled and awaited. Temporal delivers cancellation in the heartbeat response, so
    this is also what lets a cancelled run interrupt a long HTTP call.
    """

    _timer: asyncio.TimerHandle | None = None
    _task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> None:
        info = activity.info()
        if info.is_local:  # local activities have no heartbeats
            return
        period = HEARTBEAT_EVERY
        if info.heartbeat_timeout:
            period = min(period, max(info.heartbeat_timeout / timedelta(seconds=3), 0.2))
        # the callback runs in a copy of this context: activity.heartbeat() finds the activity
        self._timer = asyncio.get_running_loop().call_later(period, self._start, period)

    def _start(self, period: float) -> None:
        self._timer = None
        self._task = asyncio.create_task(self._beat(period))

    async def __aexit__(self, *exc: object) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if self._task is None:
            return
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass

    @staticmethod
    async def _beat(period: float) -> None:
        while True:
            activity.heartbeat()
            await asyncio.sleep(period)


__all__ = [
    "ActionContext",
    "ActionSpec",
    "action",
    "action_models",
    "all_activities",
    "get_action",
]
