"""Schedules: Temporal Schedules starting runs of a pinned template version."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response, status

from api.auth import DESIGNER_ROLES, require_any_role
from api.deps import CurrentUser, SessionDep, SettingsDep, TemporalDep
from api.errors import error_responses
from api.schemas import SCHEDULE_ID, ScheduleIn, ScheduleOut
from api.services import schedules
from api.services.temporal_errors import answering_within

router = APIRouter(prefix="/schedules", tags=["schedules"])


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(400, 401, 403, 404, 409, 413, 422),
)
async def create_schedule(
    body: ScheduleIn,
    session: SessionDep,
    client: TemporalDep,
    settings: SettingsDep,
    user: CurrentUser,
) -> ScheduleOut:
    """Create a schedule (`cron` or `interval`); input is checked and the version pinned now."""
    require_any_role(user, DESIGNER_ROLES, "creating schedules")
    created = await schedules.create(
        session, client, settings, schedules.ScheduleRequest(**body.model_dump()), user.id
    )
    return ScheduleOut(**created.__dict__)


@router.get("", responses=error_responses(401, 503))
async def list_schedules(
    client: TemporalDep, settings: SettingsDep, _: CurrentUser
) -> list[ScheduleOut]:
    """Schedules created through this API, by id (503 when Temporal does not answer)."""
    async with answering_within(settings.temporal_rpc_timeout, "the schedule listing"):
        found = await schedules.list_all(client)
    return [ScheduleOut(**s.__dict__) for s in found]


@router.delete(
    "/{schedule_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(401, 403, 404, 422),
)
async def delete_schedule(
    schedule_id: Annotated[str, Path(pattern=SCHEDULE_ID)], client: TemporalDep, user: CurrentUser
) -> Response:
    """Delete a schedule (runs it already started go on)."""
    require_any_role(user, DESIGNER_ROLES, "deleting schedules")
    await schedules.delete(client, schedule_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
