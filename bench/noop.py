"""The `noop` action both sides of the overhead bench call.

Registered through the real actions registry, so a relayflow template can say
`action: noop` and the hand-written workflows call the very same activity (same
name, same `ActionRequest` input, same wrapper work around it).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from activities.registry import ActionContext, action


class NoopParams(BaseModel):
    """``with:`` of `noop`: nothing."""

    model_config = ConfigDict(extra="forbid")


@action("noop", NoopParams)
async def noop(params: NoopParams, ctx: ActionContext) -> dict[str, Any]:
    """Do nothing; return an empty output."""
    return {}
