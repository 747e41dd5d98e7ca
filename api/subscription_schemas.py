"""Bodies of the subscriptions API (SPEC §14)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from activities.connections import CONNECTION_NAME, absolute_url
from activities.secrets import NAME
from api.models import SubscriptionDelivery, SubscriptionRow

EventType = Literal[
    "run.started",
    "run.completed",
    "run.failed",
    "run.cancelled",
    "run.waiting",
    "run.held",
    "approval.opened",
    "approval.decided",
    "sla.fired",
]
SUBSCRIPTION_ID = r"^[a-z0-9][a-z0-9_.-]*$"


class Target(BaseModel):
    """Where deliveries go: exactly one of `url`, `connection` (+ `path`), `action` (+ `with`)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, serialize_by_alias=True)

    #: an absolute http(s) URL (the egress policy applies)
    url: str | None = Field(None, max_length=2000, examples=["https://hooks.example/relayflow"])
    #: a connection NAME (its base_url and credentials); `path` is joined to its base_url
    connection: str | None = Field(None, pattern=CONNECTION_NAME, max_length=100)
    path: str | None = Field(None, max_length=2000)
    #: url/connection targets: the NAME of the secret deliveries are signed with
    #: (`X-Signature-256: sha256=<hex HMAC-SHA256 of the body>`)
    secret: str | None = Field(None, pattern=f"^{NAME}$", max_length=200)
    #: an action run per event: `slack` (`with: {url: secret:NAME}`) or `email` (`with: {to}`)
    action: Literal["slack", "email"] | None = None
    with_: dict[str, Any] | None = Field(None, alias="with")

    @field_validator("url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        if v is not None:
            url = absolute_url(v)
            if url.userinfo:
                raise ValueError("put credentials in a connection, not in the URL")
        return v

    @model_validator(mode="after")
    def _one_kind(self) -> Target:
        kinds = [k for k in ("url", "connection", "action") if getattr(self, k) is not None]
        if len(kinds) != 1:
            given = " and ".join(f"`{k}`" for k in kinds) or "none"
            raise ValueError(
                f"give exactly one of `url`, `connection` (+ `path`) or `action` (+ `with`); got {given}"
            )
        if self.path is not None and self.connection is None:
            raise ValueError("`path` goes with `connection`")
        if self.with_ is not None and self.action is None:
            raise ValueError("`with` goes with `action`")
        if self.action is not None and self.secret is not None:
            raise ValueError("`secret` signs url/connection deliveries; an action has none")
        return self

    def stored(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class SubscriptionIn(BaseModel):
    """``POST /subscriptions``."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=SUBSCRIPTION_ID, max_length=100, examples=["failed-runs"])
    events: list[EventType] = Field(min_length=1, max_length=9)
    #: only runs of this template (and subflow children of it); none = every template
    template: str | None = Field(None, min_length=1, max_length=100)
    #: only runs carrying all these tags
    tags: dict[str, str] = Field(default_factory=dict, max_length=20)
    target: Target


class SubscriptionOut(BaseModel):
    id: str
    events: list[str]
    template: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    target: dict[str, Any]
    created_at: datetime
    created_by: str | None = None


class DeliveryOut(BaseModel):
    """One event sent (or being retried) to a subscription."""

    event: str = Field(description="the event id (`X-Delivery-Id`)")
    type: str
    run_id: str
    status: str = Field(description="delivered | retrying | failed | skipped")
    attempts: int
    last_error: str | None = None
    at: datetime = Field(description="when the first attempt was made")
    updated_at: datetime


def out(row: SubscriptionRow) -> SubscriptionOut:
    return SubscriptionOut(
        id=row.id,
        events=list(row.events),
        template=row.template,
        tags=dict(row.tags),
        target=dict(row.target),
        created_at=row.created_at,
        created_by=row.created_by,
    )


def delivery_out(row: SubscriptionDelivery) -> DeliveryOut:
    return DeliveryOut(
        event=row.event_id,
        type=row.type,
        run_id=row.run_id,
        status=row.status,
        attempts=row.attempts,
        last_error=row.last_error,
        at=row.created_at,
        updated_at=row.updated_at,
    )
