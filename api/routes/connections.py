"""Connections (SPEC §8): admin-owned endpoints with credentials, referenced by templates.

Writes need role `admin`; a health check on demand `operator` or `admin`; any
authenticated user reads them — secret *names* only, the values live on the workers.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response, status

from api.auth import OPERATOR_ROLES, require_any_role
from api.connection_schemas import (
    ConnectionHealth,
    ConnectionIn,
    ConnectionOut,
    ConnectionUpdate,
    health_of,
    out,
)
from api.deps import CurrentUser, SessionDep
from api.errors import error_responses
from api.services import connections

router = APIRouter(prefix="/connections", tags=["connections"])
ADMIN = frozenset({"admin"})
Name = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9_-]*$", max_length=100)]


@router.post(
    "", status_code=status.HTTP_201_CREATED, responses=error_responses(400, 401, 403, 409, 413, 422)
)
async def create_connection(
    body: ConnectionIn, session: SessionDep, user: CurrentUser
) -> ConnectionOut:
    """Define a connection (admin): `{name, base_url, auth?, headers?, health?}`."""
    require_any_role(user, ADMIN, "defining connections")
    return out(await connections.create(session, body, user.id))


@router.get("", responses=error_responses(401))
async def list_connections(session: SessionDep, _: CurrentUser) -> list[ConnectionOut]:
    """Every connection, by name, with its last health check."""
    return [out(r) for r in await connections.list_all(session)]


@router.get("/{name}", responses=error_responses(401, 404, 422))
async def get_connection(name: Name, session: SessionDep, _: CurrentUser) -> ConnectionOut:
    """One connection (secret names only) with its last health check."""
    return out(await connections.get(session, name))


@router.put("/{name}", responses=error_responses(400, 401, 403, 404, 413, 422))
async def replace_connection(
    name: Name, body: ConnectionUpdate, session: SessionDep, user: CurrentUser
) -> ConnectionOut:
    """Replace a connection's definition (admin). Runs already started keep what they pinned."""
    require_any_role(user, ADMIN, "changing connections")
    return out(await connections.update_one(session, name, body, user.id))


@router.delete(
    "/{name}", status_code=status.HTTP_204_NO_CONTENT, responses=error_responses(401, 403, 404, 422)
)
async def delete_connection(name: Name, session: SessionDep, user: CurrentUser) -> Response:
    """Delete a connection (admin). New runs of templates using it are refused (422)."""
    require_any_role(user, ADMIN, "deleting connections")
    await connections.delete(session, name)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{name}/check", responses=error_responses(401, 403, 404, 422))
async def check_connection(name: Name, session: SessionDep, user: CurrentUser) -> ConnectionHealth:
    """Run the health check now (operator, admin) and return its result."""
    require_any_role(user, OPERATOR_ROLES, "checking connections")
    return health_of(await connections.check_now(session, name))
