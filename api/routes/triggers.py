"""Webhook trigger rules (stored in the database)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response, status

from api.auth import DESIGNER_ROLES, require_any_role
from api.deps import CurrentUser, SessionDep
from api.errors import error_responses
from api.models import Trigger
from api.schemas import TRIGGER_ID, TriggerIn, TriggerOut
from api.services import triggers

router = APIRouter(prefix="/triggers", tags=["triggers"])


@router.post(
    "", status_code=status.HTTP_201_CREATED, responses=error_responses(400, 401, 403, 409, 413, 422)
)
async def create_trigger(body: TriggerIn, session: SessionDep, user: CurrentUser) -> TriggerOut:
    """Store a rule: deliveries to `source` whose body satisfies `when` start `template`."""
    require_any_role(user, DESIGNER_ROLES, "saving triggers")
    row = await triggers.create(session, Trigger(**body.model_dump(), created_by=user.id))
    return TriggerOut.model_validate(row, from_attributes=True)


@router.get("", responses=error_responses(401))
async def list_triggers(session: SessionDep, _: CurrentUser) -> list[TriggerOut]:
    """Every rule, by id."""
    return [
        TriggerOut.model_validate(r, from_attributes=True) for r in await triggers.list_all(session)
    ]


@router.delete(
    "/{trigger_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(401, 403, 404, 422),
)
async def delete_trigger(
    trigger_id: Annotated[str, Path(pattern=TRIGGER_ID)], session: SessionDep, user: CurrentUser
) -> Response:
    require_any_role(user, DESIGNER_ROLES, "deleting triggers")
    await triggers.delete(session, trigger_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
