"""FastAPI dependencies: settings, DB session, the Temporal client, the current user."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import Client

from activities.directory import User
from api.auth import authenticate
from api.errors import Unavailable
from settings import Settings

_bearer = HTTPBearer(auto_error=False, description="API token from the directory file")


def get_app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.sessionmaker() as session:
        yield session


def get_temporal(request: Request) -> Client:
    """The Temporal client; 503 while the API has not reached Temporal (see api.temporal)."""
    client: Client | None = request.app.state.temporal
    if client is None:
        settings: Settings = request.app.state.settings
        raise Unavailable(
            f"Temporal at {settings.temporal_address} is not reachable yet; "
            "the API keeps trying, retry in a moment"
        )
    return client


def get_current_user(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> User:
    token = (
        credentials.credentials if credentials and credentials.scheme.lower() == "bearer" else None
    )
    return authenticate(request.app.state.directory.get(), token)


SettingsDep = Annotated[Settings, Depends(get_app_settings)]
SessionDep = Annotated[AsyncSession, Depends(get_session)]
TemporalDep = Annotated[Client, Depends(get_temporal)]
CurrentUser = Annotated[User, Depends(get_current_user)]
