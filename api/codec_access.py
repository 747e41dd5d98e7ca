"""Who may call the codec server (`/codec/*`, SPEC §12), and from which browser origin.

Two ways in, both for roles `operator` / `admin` only (401 without valid credentials,
403 for other roles):

- `Authorization: Bearer <token>` from the directory (the Temporal CLI's `--codec-auth`);
- the `/ui` session cookie of a signed-in user (the Temporal Web UI sends it when its codec
  setting "include cross-origin credentials" is on). `session_user` is the one hook for it.

`CodecCORS` answers CORS — with credentials — for the `TEMPORAL_UI_URL` origin and only on
`/codec/`; every other path of the API stays without CORS.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from activities.directory import User
from api.auth import OPERATOR_ROLES, authenticate, require_any_role
from api.errors import Forbidden, Unauthorized
from api.ui import session as ui_session
from settings import Settings

PREFIX = "/codec/"
_bearer = HTTPBearer(auto_error=False, description="operator/admin API token")

_LOOPBACK_TWINS = {"127.0.0.1": "localhost", "localhost": "127.0.0.1"}


def origin_of(url: str) -> str:
    """`http://127.0.0.1:8233/namespaces` -> `http://127.0.0.1:8233` (what browsers send as Origin)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def ui_origins(ui_url: str) -> list[str]:
    """The Web UI's origin; on loopback also its twin spelling (`localhost` <-> `127.0.0.1`),
    because a browser's Origin is whatever host the user typed."""
    parts = urlsplit(ui_url)
    origins = [origin_of(ui_url)]
    twin = _LOOPBACK_TWINS.get(parts.hostname or "")
    if twin:
        origins.append(f"{parts.scheme}://{twin}" + (f":{parts.port}" if parts.port else ""))
    return origins


def session_user(request: Request) -> User | None:
    """The user a valid `/ui` session cookie signs in, or None (no/invalid cookie)."""
    return ui_session.session_user(request)


def _cookie_origin_ok(request: Request) -> bool:
    """A cookie-authenticated call must come from the Web UI or the API's own pages (when the
    browser says where it comes from): another site cannot ride on an operator's cookie."""
    origin = request.headers.get("origin")
    if origin is None:
        return True
    settings: Settings = request.app.state.settings
    return origin in {*ui_origins(settings.temporal_ui_url), origin_of(settings.api_public_url)}


def codec_user(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> User:
    """The operator/admin calling the codec server: bearer token first, else the /ui cookie."""
    directory = request.app.state.directory.get()
    if credentials is not None and credentials.scheme.lower() == "bearer":
        user = authenticate(directory, credentials.credentials)
    else:
        found = session_user(request)
        if found is None:
            raise Unauthorized(
                "the codec server needs an operator/admin bearer token "
                "('Authorization: Bearer <token>') or a /ui session"
            )
        if not _cookie_origin_ok(request):
            raise Forbidden("a /ui session may use the codec server only from the Temporal Web UI")
        user = found
    require_any_role(user, OPERATOR_ROLES, "decoding and encoding payloads")
    return user


CodecUser = Annotated[User, Depends(codec_user)]


class CodecCORS:
    """Starlette's CORSMiddleware for `/codec/` only, allowing the Web UI with credentials."""

    def __init__(self, app: ASGIApp, origins: list[str]) -> None:
        self.app = app
        self.cors = CORSMiddleware(
            app,
            allow_origins=origins,
            allow_credentials=True,
            allow_methods=["POST"],
            allow_headers=["Authorization", "Content-Type", "X-Namespace"],
            max_age=600,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(PREFIX):
            await self.cors(scope, receive, send)
        else:
            await self.app(scope, receive, send)
