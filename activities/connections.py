"""Connections (SPEC §8): admin-owned endpoints with credentials, as actions see them.

A connection is ``{name, base_url, auth?, headers?, health?}``, stored by the API. A run
pins its non-secret part at start (`Connection`, carried in `RunInput.connections`);
the secret *value* of ``auth`` is read here, at call time (`resolve`), so rotating it
takes effect at once and it never enters workflow history.

`ResolvedConnection` is what an action gets (``ctx.connection``): the URL for a
``path`` (`url_for`, never leaving ``base_url``'s host), the headers to send (the
connection's headers and auth override the step's) and the request extensions that let
the egress policy reach ``base_url`` (`activities.outbound.allow`). `check_health` is the
health check the API schedules and runs on demand.
"""

from __future__ import annotations

import base64
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field, field_validator

from activities import outbound
from activities.egress import EgressRefused, url_host_port
from activities.errors import ActionError, InvalidParams, SecretNotFound
from activities.secrets import NAME, read_secret, redact, redaction_set
from workflows.language.durations import DurationError, parse_duration

CONNECTION_NAME = r"^[a-z0-9][a-z0-9_-]*$"
SecretName = Annotated[str, Field(pattern=f"^{NAME}$", max_length=200)]
HeaderName = Annotated[str, Field(pattern=r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$", max_length=200)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BearerAuth(_Strict):
    type: Literal["bearer"]
    #: a secret NAME (its value: RELAYFLOW_SECRET_<NAME> or SECRETS_DIR/<NAME> on the workers)
    secret: SecretName


class BasicAuth(_Strict):
    type: Literal["basic"]
    username: str = Field(max_length=200)
    secret: SecretName


class HeaderAuth(_Strict):
    type: Literal["header"]
    header: HeaderName
    secret: SecretName


Auth = Annotated[BearerAuth | BasicAuth | HeaderAuth, Field(discriminator="type")]


def absolute_url(v: str) -> httpx.URL:
    """`v` as an absolute http(s) URL, else ValueError saying what is wrong."""
    try:
        url = httpx.URL(v)
    except httpx.InvalidURL as exc:
        raise ValueError(f"invalid URL: {exc}") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError("must be an absolute http:// or https:// URL")
    return url


def check_base_url(v: str) -> str:
    """An absolute http(s) URL without credentials, query or fragment."""
    url = absolute_url(v)
    if url.userinfo:
        raise ValueError("put credentials in `auth`, not in the URL")
    if url.query or url.fragment:
        raise ValueError("base_url takes no query or fragment (put them in the step's path)")
    return v


class Connection(_Strict):
    """The non-secret part of a connection: what a run pins at start."""

    name: str = Field(pattern=CONNECTION_NAME, max_length=100)
    base_url: str = Field(max_length=2000)
    auth: Auth | None = None
    #: sent with every call; they (and auth) override the step's headers of the same name
    headers: dict[HeaderName, str] = Field(default_factory=dict)

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, v: str) -> str:
        return check_base_url(v)


def default_expect() -> list[int | str]:
    return ["2xx"]


class HealthCheck(_Strict):
    """How to check a connection: ``method path`` relative to base_url, statuses, period."""

    path: str = Field("/", max_length=2000)
    method: Literal["GET", "HEAD"] = "GET"
    #: allowed statuses: numbers and/or classes like "2xx"; default all 2xx
    expect: list[int | str] = Field(default_factory=default_expect)
    every: str = "5m"

    @field_validator("method", mode="before")
    @classmethod
    def _upper(cls, v: object) -> object:
        return v.upper() if isinstance(v, str) else v

    @field_validator("every")
    @classmethod
    def _every(cls, v: str) -> str:
        try:
            parse_duration(v)
        except DurationError as exc:
            raise ValueError(str(exc)) from None
        return v

    @field_validator("expect", mode="before")
    @classmethod
    def _listify(cls, v: object) -> object:
        return [v] if isinstance(v, int | str) else v  # `expect: 2xx` or `expect: 204`

    @field_validator("expect")
    @classmethod
    def _expect(cls, v: list[int | str]) -> list[int | str]:
        for item in v:
            if isinstance(item, int) and not 100 <= item <= 599:
                raise ValueError(f"status {item} is not between 100 and 599")
            if isinstance(item, str) and not re.fullmatch(r"[1-5](xx|\d\d)", item.lower()):
                raise ValueError(f"{item!r} is not a status (200) or class (2xx)")
        return v


def join(base_url: str, path: str | None) -> str:
    """``base_url`` + ``path`` (which may carry a query); never another host or port."""
    if not path:
        return base_url
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", path) or path.startswith("//") or "\\" in path:
        raise InvalidParams(f"path {path!r} must be relative to the connection's base_url")
    url = base_url.rstrip("/") + "/" + path.lstrip("/")
    if url_host_port(url) != url_host_port(base_url):
        raise InvalidParams(f"path {path!r} leaves the connection's base_url")
    return url


@dataclass(frozen=True)
class ResolvedConnection:
    """A pinned connection with its secret read now (never stored, never returned)."""

    spec: Connection
    headers: dict[str, str]
    secrets: frozenset[str] = field(default=frozenset(), repr=False)

    @property
    def name(self) -> str:
        return self.spec.name

    def url_for(self, path: str | None) -> str:
        return join(self.spec.base_url, path)

    def merge_headers(self, step_headers: dict[str, str] | None) -> dict[str, str]:
        """The step's headers, overridden (case-insensitively) by the connection's."""
        mine = {k.lower() for k in self.headers}
        out = {k: v for k, v in (step_headers or {}).items() if k.lower() not in mine}
        out.update(self.headers)
        return out

    def same_origin(self, url: httpx.URL) -> bool:
        return url_host_port(str(url)) == url_host_port(self.spec.base_url) and (
            url.scheme == httpx.URL(self.spec.base_url).scheme
        )


def resolve(pinned: Connection | dict[str, Any], *, required: bool = True) -> ResolvedConnection:
    """Read the connection's secret now and build its headers.

    ``required=False`` (health checks outside the workers): a secret that is not
    defined here is left out instead of failing.
    """
    spec = pinned if isinstance(pinned, Connection) else Connection.model_validate(pinned)
    headers = dict(spec.headers)
    secrets: set[str] = set()
    auth = spec.auth
    if auth is not None:
        try:
            value = read_secret(auth.secret)
        except SecretNotFound:
            if required:
                raise
            value = None
        if value is not None:
            secrets.add(value)
            if isinstance(auth, BearerAuth):
                headers = _set(headers, "Authorization", f"Bearer {value}")
            elif isinstance(auth, BasicAuth):
                token = base64.b64encode(f"{auth.username}:{value}".encode()).decode()
                secrets.add(token)
                headers = _set(headers, "Authorization", f"Basic {token}")
            else:
                headers = _set(headers, auth.header, value)
    return ResolvedConnection(spec, headers, frozenset(secrets))


def _set(headers: dict[str, str], name: str, value: str) -> dict[str, str]:
    out = {k: v for k, v in headers.items() if k.lower() != name.lower()}
    out[name] = value
    return out


class Health(BaseModel):
    """Result of a health check (the `health` object of the connections API)."""

    status: Literal["ok", "failing", "unknown"] = "unknown"
    checked_at: datetime | None = None
    latency_ms: int | None = None
    error: str | None = None


def expected(status: int, expect: list[int | str] | None) -> bool:
    """Is ``status`` in ``expect`` (numbers and classes like ``2xx``; default any 2xx)?"""
    if not expect:
        return 200 <= status < 300
    for item in expect:
        if isinstance(item, int) and item == status:
            return True
        if isinstance(item, str):
            item = item.lower()
            if item.endswith("xx") and status // 100 == int(item[0]):
                return True
            if item.isdigit() and int(item) == status:
                return True
    return False


async def check_health(
    client: httpx.AsyncClient, conn: Connection, check: HealthCheck, timeout: float = 10.0
) -> Health:
    """One health check through ``client`` (the shared client: egress policy applies).

    ``ok`` when the answer's status is in ``expect``; else ``failing`` with the reason.
    Secrets the checking process cannot read are left out (see `resolve`); every
    secret that was used is removed from the error text.
    """
    started = time.monotonic()
    resolved: ResolvedConnection | None = None
    error: str | None = None
    try:
        resolved = resolve(conn, required=False)
        url = resolved.url_for(check.path)
        resp = await client.request(
            check.method,
            url,
            headers=resolved.headers,
            timeout=timeout,
            follow_redirects=False,
            extensions=outbound.allow(conn.base_url),
        )
        if not expected(resp.status_code, check.expect):
            error = (
                f"{check.method} {check.path} -> {resp.status_code} {resp.reason_phrase}".rstrip()
            )
    except (EgressRefused, ActionError) as exc:
        error = exc.message
    except httpx.TimeoutException:
        error = f"{check.method} {check.path} timed out after {timeout:g}s"
    except httpx.HTTPError as exc:
        error = f"{check.method} {check.path} failed: {type(exc).__name__}: {exc}"
    latency = int((time.monotonic() - started) * 1000)
    if error and resolved is not None and resolved.secrets:
        error = redact(error, redaction_set(resolved.secrets))
    return Health(
        status="failing" if error else "ok",
        checked_at=datetime.now(UTC),
        latency_ms=latency,
        error=error,
    )
