"""Tables of the API's database (the Alembic migrations in `alembic/versions` match these)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Column, DateTime, UniqueConstraint
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware timestamps on every backend (SQLite drops the offset: read back as UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


class TemplateVersion(SQLModel, table=True):
    """One immutable saved version of a template; `(name, version)` is unique."""

    __tablename__ = "template_versions"
    __table_args__ = (
        UniqueConstraint("name", "version", name="uq_template_versions_name_version"),
    )

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100, index=True)
    version: int
    body: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
    created_by: str | None = Field(default=None, max_length=200)


class Trigger(SQLModel, table=True):
    """A webhook rule: deliveries to `source` whose body matches `when` start `template`."""

    __tablename__ = "triggers"

    id: str = Field(primary_key=True, max_length=100)
    source: str = Field(max_length=100, index=True)
    when: str | None = Field(default=None)
    template: str = Field(max_length=100)
    version: int | None = Field(default=None)
    input: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
    created_by: str | None = Field(default=None, max_length=200)


class Delivery(SQLModel, table=True):
    """A webhook delivery already handled, with the runs it started (dedupe of retries)."""

    __tablename__ = "deliveries"

    source: str = Field(primary_key=True, max_length=100)
    delivery_id: str = Field(primary_key=True, max_length=200)
    runs: list[str] = Field(sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )


class Delegation(SQLModel, table=True):
    """A user's self-service out-of-office (SPEC §11): their tasks go to `to_user` until
    `until` (none = until removed). Read by the worker's `resolve_assignees` activity."""

    __tablename__ = "delegations"

    user_id: str = Field(primary_key=True, max_length=200)
    to_user: str = Field(max_length=200)
    until: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    updated_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
