"""The caller's own settings: out-of-office delegation (SPEC §11)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status

from api.deps import CurrentUser, SessionDep
from api.errors import error_responses
from api.schemas_people import DelegationIn, DelegationOut
from api.services import delegations

router = APIRouter(prefix="/me", tags=["me"])


@router.get("/delegation", responses=error_responses(401))
async def get_delegation(session: SessionDep, user: CurrentUser) -> DelegationOut:
    """Your delegation: the self-service one, else the directory file's `delegate:`."""
    return await delegations.get(session, user)


@router.put("/delegation", responses=error_responses(400, 401, 413, 422))
async def put_delegation(
    body: DelegationIn, request: Request, session: SessionDep, user: CurrentUser
) -> DelegationOut:
    """While active, approvals that open (or are reassigned) for you go to `to` (chains
    are followed up to 5 hops); their decisions record `on_behalf_of` you."""
    return await delegations.put(session, request.app.state.directory.get(), user, body)


@router.delete(
    "/delegation", status_code=status.HTTP_204_NO_CONTENT, responses=error_responses(401)
)
async def delete_delegation(session: SessionDep, user: CurrentUser) -> Response:
    """Remove your self-service delegation (a directory `delegate:` stays)."""
    await delegations.delete(session, user)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
