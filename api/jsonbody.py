"""Strict JSON request bodies: NaN, Infinity, lone surrogates and deep nesting are 422s.

FastAPI parses bodies with plain `json.loads`, which accepts `NaN`, `1e400`
(infinity) and `"\\ud800"`, and fails with a 400 (or worse) on deep nesting. Such
values were stored and then broke every reader (PostgreSQL refuses NaN, a lone
surrogate cannot be encoded as UTF-8, the worker cannot decode deep input). This
ASGI middleware reads a JSON body once (it is at most 1 MiB, see `api.limits`),
checks it with `workflows.language.jsonsafe` and either answers 422 or hands the same bytes
on. Syntax errors are left to FastAPI's own 422.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import ErrorItem, PayloadTooLarge, error_response
from workflows.language import jsonsafe

METHODS = frozenset({"POST", "PUT", "PATCH"})


def _is_json(scope: Scope) -> bool:
    for name, value in scope.get("headers", []):
        if name == b"content-type":
            media = value.split(b";")[0].strip().lower()
            return media == b"application/json" or media.endswith(b"+json")
    return True  # FastAPI reads a body without a content type as JSON too


class StrictJSONBody:
    def __init__(self, app: ASGIApp, max_depth: int = jsonsafe.MAX_DEPTH) -> None:
        self.app = app
        self.max_depth = max_depth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in METHODS or not _is_json(scope):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        try:
            while True:
                message = await receive()
                if message["type"] != "http.request":  # disconnected
                    await self.app(scope, _replay([message], receive), send)
                    return
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    break
        except PayloadTooLarge as e:
            await error_response(413, e.code, e.detail)(scope, receive, send)
            return
        body = b"".join(chunks)
        if body.strip():
            try:
                jsonsafe.loads(body, max_depth=self.max_depth)
            except jsonsafe.UnsafeJSON as e:
                loc = "body" + e.where[1:]
                response = error_response(
                    422,
                    "invalid_request",
                    f"{loc}: {e.problem}",
                    [ErrorItem(loc=loc, msg=e.problem)],
                )
                await response(scope, receive, send)
                return
            except (json.JSONDecodeError, UnicodeDecodeError):
                pass  # FastAPI answers these itself
        await self.app(scope, _replay([{"type": "http.request", "body": body}], receive), send)


def _replay(messages: list[Message], then: Receive) -> Receive:
    """`messages` first, then whatever the server sends next (a disconnect)."""
    pending = list(messages)

    async def replayed() -> Message:
        if pending:
            return pending.pop(0)
        return await then()

    return replayed
