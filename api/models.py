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


class ConnectionRow(SQLModel, table=True):
    """An admin-owned connection (SPEC §8): definition (secret NAMES only) and last health."""

    __tablename__ = "connections"

    name: str = Field(primary_key=True, max_length=100)
    base_url: str = Field(max_length=2000)
    #: `{type, secret (a NAME), username?, header?}` or null
    auth: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    headers: dict[str, str] = Field(sa_column=Column(JSON, nullable=False))
    #: the health-check definition `{path, method, expect, every}`; null = on demand only
    health: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    health_status: str = Field(default="unknown", max_length=20)
    #: last check (also the claim of a scheduled check: replicas skip a fresh one)
    checked_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    latency_ms: int | None = Field(default=None)
    health_error: str | None = Field(default=None)
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
    created_by: str | None = Field(default=None, max_length=200)
    updated_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
    updated_by: str | None = Field(default=None, max_length=200)


class TemplateOwner(SQLModel, table=True):
    """One owner of a template name (SPEC §8): may save new versions of it and read its runs.

    The first saver of a name becomes its owner; an admin replaces the list with
    `PUT /templates/{name}/owners`. A name with no owners is admin-only.
    """

    __tablename__ = "template_owners"

    name: str = Field(primary_key=True, max_length=100)
    user_id: str = Field(primary_key=True, max_length=200, index=True)
    added_by: str | None = Field(default=None, max_length=200)
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


class SubscriptionRow(SQLModel, table=True):
    """A run event subscription (SPEC §14): which events of which runs go where.

    Runs pin the subscriptions matching them when they start (`RunInput.subscriptions`);
    deleting one stops its deliveries (the worker checks before each)."""

    __tablename__ = "subscriptions"

    id: str = Field(primary_key=True, max_length=100)
    events: list[str] = Field(sa_column=Column(JSON, nullable=False))
    template: str | None = Field(default=None, max_length=100, index=True)
    tags: dict[str, str] = Field(sa_column=Column(JSON, nullable=False))
    #: `{url, secret?}` | `{connection, path?, secret?}` | `{action, with}` (secret NAMES only)
    target: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
    created_by: str | None = Field(default=None, max_length=200)


class SubscriptionDelivery(SQLModel, table=True):
    """One event delivered (or being retried) to one subscription; written by the workers
    (`activities.subscription_log`), the newest 100 kept per subscription."""

    __tablename__ = "subscription_deliveries"

    subscription_id: str = Field(primary_key=True, max_length=100)
    event_id: str = Field(primary_key=True, max_length=100)
    run_id: str = Field(max_length=300)
    type: str = Field(max_length=50)
    #: delivered | retrying | failed | skipped
    status: str = Field(max_length=20)
    attempts: int = 0
    last_error: str | None = Field(default=None)
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False, index=True)
    )
    updated_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
