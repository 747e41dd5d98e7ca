"""What happens around every call of an action (SPEC §4, §8, §10).

`activities.registry.action` turns ``fn(params, ctx)`` into a Temporal activity whose
body `wrap` builds. Around ``fn`` it:

- resolves ``secret:NAME`` in the fields the params model declares secret
  (`activities.secrets`: ``RELAYFLOW_SECRET_<NAME>`` / ``SECRETS_DIR/<NAME>``, never
  from history) and the pinned connection's credentials (`activities.connections`),
  and redacts those values — also encoded — from the output, errors and log lines;
- validates the params into the model (a mistake is a non-retryable error naming the field);
- heartbeats every few seconds once the call has run that long, so a workflow's
  heartbeat timeout detects a dead worker and cancellation reaches the running action;
- converts any failure into a classified `ApplicationError` (`activities.errors`);
- records the attempt's outcome and duration (`activities.metrics`).
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities import metrics
from activities.connections import ResolvedConnection
from activities.connections import resolve as resolve_connection
from activities.context import ActionContext, ActionFn
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

#: heartbeat period when the workflow set no heartbeat timeout
HEARTBEAT_EVERY = 5.0

P = TypeVar("P", bound=BaseModel)
#: what `wrap` returns: the function `activities.registry.action` makes the activity
ActivityBody = Callable[[ActionRequest], Awaitable[dict[str, Any]]]


def wrap(name: str, params: type[BaseModel], fn: ActionFn) -> ActivityBody:
    """The body of the activity of action ``name``: ``fn`` with everything above around it."""
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

    return run


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


__all__ = ["HEARTBEAT_EVERY", "ActivityBody", "wrap"]
