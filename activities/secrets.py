"""`secret:NAME` values (SPEC §4): resolved inside the activity, never stored in history.

A `with:` value that is exactly ``secret:NAME`` is replaced by the worker's environment
variable NAME just before the action runs; every resolved value is then redacted from
the action's output and errors, so it cannot reach workflow history or logs.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

from temporalio.exceptions import ApplicationError

from activities.errors import SecretNotFound

REDACTED = "***"
_SECRET = re.compile(r"^secret:([A-Za-z_][A-Za-z0-9_]*)$")


def resolve_secrets(value: Any) -> tuple[Any, set[str]]:
    """Replace every ``secret:NAME`` string (a whole value) with env var NAME's value."""
    found: set[str] = set()

    def walk(v: Any) -> Any:
        if isinstance(v, str):
            m = _SECRET.match(v)
            if not m:
                return v
            secret = os.environ.get(m[1])
            if secret is None:
                raise SecretNotFound(
                    f"secret {m[1]!r} is not set: define the environment variable {m[1]} "
                    "on the workers"
                )
            if secret:
                found.add(secret)
            return secret
        if isinstance(v, Mapping):
            return {k: walk(x) for k, x in v.items()}
        if isinstance(v, list | tuple):
            return [walk(x) for x in v]
        return v

    return walk(value), found


def redact(value: Any, secrets: tuple[str, ...]) -> Any:
    if not secrets:
        return value
    if isinstance(value, str):
        for s in secrets:
            value = value.replace(s, REDACTED)
        return value
    if isinstance(value, Mapping):
        return {redact(k, secrets): redact(v, secrets) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v, secrets) for v in value]
    return value


def redacted_error(err: Any, secrets: tuple[str, ...]) -> Any:
    message = redact(err.message, secrets)
    details = [redact(d, secrets) for d in err.details]
    if message == err.message and details == list(err.details):
        return err
    return ApplicationError(
        message,
        *details,
        type=err.type,
        non_retryable=err.non_retryable,
        next_retry_delay=err.next_retry_delay,
        category=err.category,
    )
