"""Bodies of the connections API (SPEC §8): definitions carry secret NAMES, never values."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from activities.connections import (
    CONNECTION_NAME,
    Auth,
    Connection,
    HeaderName,
    HealthCheck,
    check_base_url,
    default_expect,
)
from api.models import ConnectionRow


class ConnectionFields(BaseModel):
    """What an admin writes (``PUT`` replaces all of it)."""

    model_config = ConfigDict(extra="forbid")

    base_url: str = Field(max_length=2000, examples=["https://erp.example/api"])
    #: `{type: bearer, secret}` | `{type: basic, username, secret}` | `{type: header, header, secret}`;
    #: `secret` is a secret NAME (RELAYFLOW_SECRET_<NAME> or SECRETS_DIR/<NAME> on the workers)
    auth: Auth | None = None
    headers: dict[HeaderName, str] = Field(default_factory=dict)
    #: `{path, method, expect, every}`; omitted: checked on demand only
    health: HealthCheck | None = None

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, v: str) -> str:
        return check_base_url(v)

    @field_validator("headers")
    @classmethod
    def _plain_headers(cls, v: dict[str, str]) -> dict[str, str]:
        for name, value in v.items():
            if value.startswith("secret:"):
                raise ValueError(f"header {name!r}: credentials go in `auth` (a secret NAME)")
        return v


class ConnectionIn(ConnectionFields):
    """``POST /connections``."""

    name: str = Field(pattern=CONNECTION_NAME, max_length=100, examples=["erp"])


class ConnectionUpdate(ConnectionFields):
    """``PUT /connections/{name}``: the whole definition (``name``, if given, must match)."""

    name: str | None = Field(None, pattern=CONNECTION_NAME, max_length=100)


class ConnectionHealth(BaseModel):
    """The health check's definition and its last result."""

    status: str = Field(description="ok | failing | unknown")
    checked_at: datetime | None = None
    latency_ms: int | None = None
    error: str | None = None
    path: str = "/"
    method: str = "GET"
    expect: list[int | str] = Field(default_factory=default_expect)
    #: the period of scheduled checks; null = on demand only
    every: str | None = None


class ConnectionOut(BaseModel):
    name: str
    base_url: str
    auth: dict[str, Any] | None = Field(None, description="secret NAMES only, never values")
    headers: dict[str, str]
    health: ConnectionHealth
    created_at: datetime
    created_by: str | None = None
    updated_at: datetime
    updated_by: str | None = None


def health_of(row: ConnectionRow) -> ConnectionHealth:
    check = HealthCheck.model_validate(row.health or {})
    return ConnectionHealth(
        status=row.health_status,
        checked_at=row.checked_at,
        latency_ms=row.latency_ms,
        error=row.health_error,
        path=check.path,
        method=check.method,
        expect=check.expect,
        every=check.every if row.health else None,
    )


def out(row: ConnectionRow) -> ConnectionOut:
    return ConnectionOut(
        name=row.name,
        base_url=row.base_url,
        auth=row.auth,
        headers=row.headers,
        health=health_of(row),
        created_at=row.created_at,
        created_by=row.created_by,
        updated_at=row.updated_at,
        updated_by=row.updated_by,
    )


def pinned(row: ConnectionRow) -> dict[str, Any]:
    """The non-secret part a run pins at start (`RunInput.connections`)."""
    conn = Connection(name=row.name, base_url=row.base_url, auth=row.auth, headers=row.headers)
    return conn.model_dump(mode="json", exclude_none=True)
