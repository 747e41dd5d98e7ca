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
from settings import Settings

_bearer = HTTPBearer(auto_error=False, description="API token from the directory file")


def get_app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.sessionmaker() as session:
        yield session


def get_temporal(request: Request) -> Client:
    client: Client = request.app.state.temporal
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
