"""Errors raised by actions, and how they become Temporal failures (SPEC §4).

Every action failure is an `ActionError` (or something the registry converts into
one). What matters to Temporal is whether it is worth retrying:

- retryable: HTTP 5xx, 408, 429, timeouts, connection errors, SMTP 4xx — the
  step's `retry` policy applies, and a server's `Retry-After` replaces the next
  backoff interval (`ApplicationError.next_retry_delay`);
- non-retryable: bad `with:` params, unknown secrets, missing configuration,
  HTTP 4xx other than 408/429, SMTP 5xx — retrying cannot help.

`to_application_error` is the single place that turns any exception into the
`ApplicationError` Temporal records; its message becomes the step's `error`.
The `type` (the error class name, e.g. `HttpStatusError`) is what a step's
`retry.non_retryable` list matches.
"""

from __future__ import annotations

import email.utils
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from temporalio.exceptions import ApplicationError

#: how much of a response body an error message quotes
BODY_EXCERPT_CHARS = 500
#: never wait longer than this because a server said so in `Retry-After`
MAX_RETRY_AFTER = timedelta(hours=1)


class ActionError(Exception):
    """Root of every action error. `retryable` decides whether Temporal tries again."""

    retryable: bool = True

    def __init__(
        self,
        message: str,
        *,
        retryable: bool | None = None,
        next_retry_delay: timedelta | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if retryable is not None:
            self.retryable = retryable
        self.next_retry_delay = next_retry_delay
        self.details = dict(details or {})


class InvalidParams(ActionError):
    """The step's `with:` does not fit the action's params model."""

    retryable = False


class SecretNotFound(ActionError):
    """A `secret:NAME` whose environment variable is not set on the worker."""

    retryable = False


class NotConfigured(ActionError):
    """The worker lacks configuration the action needs (e.g. `SMTP_HOST`)."""

    retryable = False


class HttpStatusError(ActionError):
    """An HTTP response whose status is not in the step's `expect`."""

    def __init__(self, message: str, *, status: int, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.status = status


class TransportError(ActionError):
    """The request never got a response: connection refused/reset, DNS, TLS, timeout."""


class DeliveryError(ActionError):
    """A mail server refused or failed the message."""


def is_retryable_status(status: int) -> bool:
    """5xx, 408 (request timeout) and 429 (too many requests) are worth retrying."""
    return status >= 500 or status in (408, 429)


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> timedelta | None:
    """`Retry-After` as delta-seconds or an HTTP date; None when absent or unparsable.

    Capped at `MAX_RETRY_AFTER` so a hostile server cannot park a step forever.
    """
    if not value:
        return None
    value = value.strip()
    delay: timedelta | None
    if value.isdigit():
        delay = timedelta(seconds=int(value))
    else:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        delay = max(when - (now or datetime.now(UTC)), timedelta(0))
    return min(delay, MAX_RETRY_AFTER)


def excerpt(body: Any, limit: int = BODY_EXCERPT_CHARS) -> str:
    """A one-line-ish excerpt of a response body for error messages."""
    if isinstance(body, bytes):
        text = body.decode("utf-8", errors="replace")
    elif isinstance(body, str):
        text = body
    else:
        import json

        text = json.dumps(body, default=str)
    text = text.strip()
    return text if len(text) <= limit else text[:limit] + "…"


def http_status_error(
    method: str, url: str, status: int, reason: str, headers: Mapping[str, str], body: Any
) -> HttpStatusError:
    """Classify an unexpected HTTP status into a (non-)retryable `HttpStatusError`.

    The message reads `POST https://host/path?q -> 503 Service Unavailable: <body excerpt>`.
    The URL is shown whole: when it is a `secret:`, the registry redacts it as a unit.
    """
    text = excerpt(body)
    message = f"{method} {url} -> {status} {reason}".rstrip()
    if text:
        message += f": {text}"
    retry_after = parse_retry_after(headers.get("retry-after"))
    return HttpStatusError(
        message,
        status=status,
        retryable=is_retryable_status(status),
        next_retry_delay=retry_after if status in (429, 503) else None,
        details={"status": status, "body": text},
    )


def from_httpx(exc: httpx.HTTPError, method: str, url: str) -> ActionError:
    """Classify an httpx exception raised before a response arrived."""
    if isinstance(exc, httpx.TimeoutException):
        return TransportError(f"{method} {url} timed out ({type(exc).__name__})")
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
        return InvalidParams(f"{method} {url}: {exc}")
    if isinstance(exc, httpx.TransportError):
        return TransportError(f"{method} {url} failed: {type(exc).__name__}: {exc}")
    return ActionError(f"{method} {url} failed: {type(exc).__name__}: {exc}")


def to_application_error(exc: BaseException) -> ApplicationError:
    """The `ApplicationError` Temporal records for `exc` (already-built ones pass through)."""
    if isinstance(exc, ApplicationError):
        return exc
    if isinstance(exc, ActionError):
        return ApplicationError(
            exc.message,
            *([exc.details] if exc.details else []),
            type=type(exc).__name__,
            non_retryable=not exc.retryable,
            next_retry_delay=exc.next_retry_delay,
        )
    if isinstance(exc, httpx.HTTPError):
        try:
            method, url = exc.request.method, str(exc.request.url)
        except RuntimeError:  # raised before a request existed
            method, url = "HTTP", ""
        return to_application_error(from_httpx(exc, method, url))
    return ApplicationError(f"{type(exc).__name__}: {exc}", type=type(exc).__name__)
