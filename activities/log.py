"""The `log` action: write a line to the worker's log (SPEC §4).

``with: {message, level}`` → ``{logged: message}``. Handy for debugging a template
and as a no-side-effect notification target. The line goes through Temporal's
activity logger, so it carries the workflow and activity ids; resolved secrets
are redacted. A non-string message (an expression yielding a map or list) is
logged as JSON.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from activities.registry import ActionContext, action

_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}


class LogParams(BaseModel):
    """``with:`` of the `log` action."""

    model_config = ConfigDict(extra="forbid")

    message: Any
    level: Literal["debug", "info", "warning", "error"] = "info"


@action("log", LogParams)
async def log(params: LogParams, ctx: ActionContext) -> dict[str, Any]:
    """Log ``message`` at ``level``; return it."""
    message = params.message
    text = message if isinstance(message, str) else json.dumps(message, sort_keys=True, default=str)
    text = ctx.redact(text)
    ctx.logger.log(_LEVELS[params.level], "[%s/%s] %s", ctx.run_id, ctx.step, text)
    return {"logged": text}
