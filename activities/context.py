"""What an action sees besides its params: `ActionContext` (SPEC §4).

`activities.invoke` builds one per call; action authors import it from
`activities.registry` (the documented surface, next to `action`).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from temporalio import activity

from activities import outbound
from activities.connections import ResolvedConnection
from activities.secrets import redact

#: an action's implementation: ``fn(params, ctx)``, async (preferred) or sync
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


__all__ = ["ActionContext", "ActionFn"]
