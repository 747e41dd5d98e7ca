"""Request body size limit (SPEC §5: bodies over 1 MiB -> 413), as plain ASGI middleware.

The codec server takes whole Temporal payloads (up to Temporal's 2 MB blob limit, base64
in JSON), so `/codec/` gets its own, larger limit."""

from __future__ import annotations

from collections.abc import Mapping

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import PayloadTooLarge, error_response

MAX_BODY = 1024 * 1024
#: a 4 MiB gRPC message of payloads, base64-encoded (x 4/3) in JSON, with room to spare
CODEC_MAX_BODY = 8 * 1024 * 1024


class BodySizeLimit:
    """Refuses a declared Content-Length over the limit at once, and stops a streamed
    body the moment it passes the limit (raised inside the route, so the API's error
    handler answers 413)."""

    def __init__(
        self, app: ASGIApp, max_bytes: int = MAX_BODY, prefix_limits: Mapping[str, int] | None = None
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.prefix_limits = dict(prefix_limits or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        limit = next((n for p, n in self.prefix_limits.items() if path.startswith(p)), self.max_bytes)
        detail = f"the request body is larger than {limit} bytes"
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    too_big = int(value) > limit
                except ValueError:
                    too_big = False
                if too_big:
                    await error_response(413, "payload_too_large", detail)(scope, receive, send)
                    return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise PayloadTooLarge(detail)
            return message

        await self.app(scope, limited, send)
