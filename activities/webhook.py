"""The `webhook` action: POST signed JSON to another system (SPEC §4).

``with: {url | connection + path, json, secret, headers}`` → ``{status, headers, body,
truncated}`` (``connection``: an admin-defined endpoint with credentials, SPEC §8).
The body is the compact JSON encoding of ``json``; with a ``secret`` (write it as
``secret:NAME``) it is signed exactly like relayflow's inbound hooks (SPEC §5):
``X-Signature-256: sha256=<hex HMAC-SHA256 of the body bytes>``. Every delivery
carries ``Idempotency-Key`` and ``X-Delivery-Id`` set to the step's idempotency
key, identical on retries — so a relayflow receiving it (``POST /hooks/{source}``)
starts its runs once. Failures are classified like `http`.
"""

from __future__ import annotations

import hashlib
import hmac
import json as jsonlib
import warnings
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from activities.http import HttpOutput, _check_url, exclusive_target, send, target
from activities.registry import ActionContext, action
from activities.secrets import secret_field

SIGNATURE_HEADER = "X-Signature-256"
DELIVERY_HEADER = "X-Delivery-Id"

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=".*shadows an attribute.*")

    class WebhookParams(BaseModel):
        """``with:`` of the `webhook` action."""

        model_config = ConfigDict(extra="forbid")

        #: an absolute URL; or give `connection` (+ `path`) instead
        url: str | None = None
        #: a connection NAME (admin-defined: base_url, credentials); exclusive with `url`
        connection: str | None = None
        #: with `connection`: joined to its base_url
        path: str | None = None
        json: Any = None
        #: HMAC key; write it as `secret:NAME`
        secret: str | None = secret_field(None)
        headers: dict[str, str] = Field(default_factory=dict)

        @field_validator("url")
        @classmethod
        def _url(cls, v: str | None) -> str | None:
            return _check_url(v) if v is not None else v

        @model_validator(mode="after")
        def _target(self) -> WebhookParams:
            exclusive_target(self.url, self.connection, self.path)
            return self


def sign(body: bytes, secret: str) -> str:
    """The ``X-Signature-256`` value for ``body``: ``sha256=<hex HMAC-SHA256>``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@action("webhook", WebhookParams)
async def webhook(params: WebhookParams, ctx: ActionContext) -> HttpOutput:
    """POST ``json`` to ``url``, signed with ``secret`` when given."""
    body = jsonlib.dumps(params.json, separators=(",", ":"), ensure_ascii=False).encode()
    headers = {
        "Content-Type": "application/json",
        DELIVERY_HEADER: ctx.idempotency_key,
        **params.headers,
    }
    if params.secret:
        headers[SIGNATURE_HEADER] = sign(body, params.secret)
    return await send(
        "POST",
        target(params.url, params.path, ctx),
        idempotency_key=ctx.idempotency_key,
        headers=headers,
        content=body,
        connection=ctx.connection,
    )
