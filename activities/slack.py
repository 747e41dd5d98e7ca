"""The `slack` action: post a message to a Slack incoming webhook (SPEC §4).

``with: {url, text, blocks}`` → ``{status, body}`` (Slack answers ``ok``). Write the
webhook URL as ``secret:NAME``: it is a credential (``url`` is declared secret, so a
``secret:`` there is resolved on the worker; a plain URL works too). At least one of ``text`` and
``blocks`` is required; with ``blocks``, ``text`` is the notification fallback.
Failures are classified like `http` (Slack's 4xx such as ``invalid_payload`` or
``no_service`` are not retried; 429 honours ``Retry-After``).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from activities.http import _check_url, send
from activities.registry import ActionContext, action
from activities.secrets import secret_field


class SlackParams(BaseModel):
    """``with:`` of the `slack` action."""

    model_config = ConfigDict(extra="forbid")

    #: the incoming-webhook URL: write it as `secret:NAME`
    url: str = secret_field()
    text: str | None = None
    blocks: list[dict[str, Any]] | None = None

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        return _check_url(v)

    @model_validator(mode="after")
    def _something(self) -> SlackParams:
        if not self.text and not self.blocks:
            raise ValueError("give `text`, `blocks` or both")
        return self


@action("slack", SlackParams)
async def slack(params: SlackParams, ctx: ActionContext) -> dict[str, Any]:
    """Post ``text``/``blocks`` to the incoming webhook ``url``."""
    payload: dict[str, Any] = {}
    if params.text:
        payload["text"] = params.text
    if params.blocks:
        payload["blocks"] = params.blocks
    out = await send(
        "POST", params.url, idempotency_key=ctx.idempotency_key, json=payload, send_json=True
    )
    return {"status": out.status, "body": out.body}
