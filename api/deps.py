"""FastAPI dependencies: settings, DB session, the Temporal client, the current user."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import Client

from activities.directory import Directory, User
from api.auth import authenticate
from api.errors import Unavailable
from api.schemas import RUN_ID
from api.services.access import RunView, readable_run
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


def get_directory(request: Request) -> Directory:
    directory: Directory = request.app.state.directory.get()
    return directory


async def get_readable_run(
    run_id: Annotated[str, Path(pattern=RUN_ID)],
    user: Annotated[User, Depends(get_current_user)],
    client: Annotated[Client, Depends(get_temporal)],
    session: Annotated[AsyncSession, Depends(get_session)],
) -> RunView:
    """The `{run_id}` of the path if the caller may read it, else 404 (SPEC §8): every
    `/runs/{run_id}/…` route depends on this, before anything else about the request."""
    return await readable_run(client, session, user, run_id)


SettingsDep = Annotated[Settings, Depends(get_app_settings)]
SessionDep = Annotated[AsyncSession, Depends(get_session)]
TemporalDep = Annotated[Client, Depends(get_temporal)]
CurrentUser = Annotated[User, Depends(get_current_user)]
DirectoryDep = Annotated[Directory, Depends(get_directory)]
ReadableRun = Annotated[RunView, Depends(get_readable_run)]
