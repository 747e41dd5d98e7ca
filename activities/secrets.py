"""Secrets (SPEC §8): where their values come from, where `secret:NAME` may stand, redaction.

- **Values** come only from the worker's ``RELAYFLOW_SECRET_<NAME>`` environment
  variables or the files ``SECRETS_DIR/<NAME>`` (Docker/Kubernetes secrets; the file
  wins, one trailing newline dropped). No other environment variable is readable:
  ``secret:HOME`` fails the step, not retried, naming both places to define it.
- **Fields**: ``secret:NAME`` is resolved only in the fields an action's params model
  declares secret (`secret_field` / `Secret`, stored as the JSON-Schema flag
  ``x-relayflow-secret`` so the template validator can read it without importing
  actions). Anywhere else it is plain text at run time and a finding at save time
  (`workflows.language.trust`). Credentials for HTTP calls travel through
  connections (`activities.connections`).
- **Redaction**: every resolved value is removed from an action's output, errors and
  log lines — also URL-encoded, base64 (at any byte offset, so inside ``Basic``
  credentials too) and JSON-escaped forms.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import re
from collections.abc import Iterable, Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, quote_plus

from pydantic import Field
from temporalio.exceptions import ApplicationError

from activities.errors import SecretNotFound
from settings import get_settings
from workflows.language.trust import SECRET_FLAG

REDACTED = "***"
ENV_PREFIX = "RELAYFLOW_SECRET_"
NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_SECRET = re.compile(rf"^secret:({NAME})$")
#: encoded forms shorter than this are not redacted (too likely to hit innocent text)
_MIN_ENCODED = 6
#: the redaction set of the action running in this task (for library log records)
current_secrets: ContextVar[tuple[str, ...]] = ContextVar("relayflow_secrets", default=())


def secret_field(default: Any = ..., **kwargs: Any) -> Any:
    """A params field that accepts ``secret:NAME`` (or a plain value): ``Field(...)`` plus the flag.

    ``token: str = secret_field()`` / ``key: str | None = secret_field(None)``.
    """
    extra = dict(kwargs.pop("json_schema_extra", None) or {})
    extra[SECRET_FLAG] = True
    return Field(default, json_schema_extra=extra, **kwargs)


#: ``token: Secret`` — a required string field declared secret (same as `secret_field()`)
Secret = Annotated[str, Field(json_schema_extra={SECRET_FLAG: True})]


def secret_name(value: Any) -> str | None:
    """``NAME`` when ``value`` is exactly ``secret:NAME``, else None."""
    if isinstance(value, str):
        m = _SECRET.match(value)
        if m:
            return m[1]
    return None


def read_secret(name: str) -> str:
    """The value of secret ``name``: ``SECRETS_DIR/<name>`` first, then ``RELAYFLOW_SECRET_<name>``."""
    if not re.fullmatch(NAME, name):
        raise SecretNotFound(f"{name!r} is not a secret name ([A-Za-z_][A-Za-z0-9_]*)")
    directory = get_settings().secrets_dir
    if directory:
        path = Path(directory) / name
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise SecretNotFound(
                f"secret {name!r} could not be read from SECRETS_DIR/{name}: {exc.strerror}"
            ) from None
        else:
            return text[:-1] if text.endswith("\n") else text
    value = os.environ.get(ENV_PREFIX + name)
    if value is None:
        raise SecretNotFound(
            f"secret {name!r} is not defined: set {ENV_PREFIX}{name} or SECRETS_DIR/{name} "
            "on the workers"
        )
    return value


def resolve_secret_fields(
    params: Mapping[str, Any], fields: Iterable[str]
) -> tuple[dict[str, Any], set[str]]:
    """``params`` with ``secret:NAME`` replaced in the declared ``fields`` only, and the values used."""
    out = dict(params)
    found: set[str] = set()
    for key in fields:
        name = secret_name(out.get(key))
        if name is not None:
            value = read_secret(name)
            if value:
                found.add(value)
            out[key] = value
    return out, found


def _b64_cores(raw: bytes) -> set[str]:
    """Base64 text that appears whenever ``raw`` is encoded inside a longer byte string.

    For each of the 3 byte offsets, keep only the characters determined by ``raw``
    alone (the edges depend on the neighbouring bytes); standard and URL-safe alphabets.
    """
    cores: set[str] = set()
    n = len(raw)
    for k in range(3):
        enc = base64.b64encode(b"\0" * k + raw).decode()
        start = -(-8 * k // 6)
        end = (8 * (k + n)) // 6
        core = enc[start:end]
        if len(core) >= _MIN_ENCODED:
            cores.add(core)
            cores.add(core.replace("+", "-").replace("/", "_"))
    return cores


def encoded_forms(secret: str) -> set[str]:
    """``secret`` and the encodings it may come back in: URL, base64, JSON-escaped."""
    forms = {secret}
    forms.add(quote(secret, safe=""))
    forms.add(quote(secret))
    forms.add(quote_plus(secret))
    forms.add(json.dumps(secret)[1:-1])
    forms.add(json.dumps(secret, ensure_ascii=False)[1:-1])
    forms |= _b64_cores(secret.encode())
    return {f for f in forms if f == secret or len(f) >= _MIN_ENCODED}


def redaction_set(secrets: Iterable[str]) -> tuple[str, ...]:
    """Every string to mask for ``secrets``, longest first (so a longer form wins)."""
    forms: set[str] = set()
    for s in secrets:
        if s:
            forms |= encoded_forms(s)
    return tuple(sorted(forms, key=len, reverse=True))


def redact(value: Any, secrets: tuple[str, ...]) -> Any:
    """``value`` with every string of ``secrets`` (see `redaction_set`) replaced by ``***``."""
    if not secrets:
        return value
    if isinstance(value, str):
        for s in secrets:
            if s in value:
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


class RedactingFilter(logging.Filter):
    """Masks the running action's secrets in other libraries' records (httpx logs URLs)."""

    def filter(self, record: logging.LogRecord) -> bool:
        secrets = current_secrets.get()
        if secrets:
            text = record.getMessage()
            masked = redact(text, secrets)
            if masked != text:
                record.msg, record.args = masked, ()
        return True
