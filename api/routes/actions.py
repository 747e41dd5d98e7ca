"""The action library: the catalogue and one-off test calls (SPEC §13)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from api.auth import DESIGNER_ROLES, require_any_role
from api.deps import CurrentUser, SessionDep, SettingsDep, TemporalDep
from api.errors import error_responses
from api.testing import actions
from api.testing import worker as test_worker
from api.testing.schemas import ActionInfo, ActionTestRequest, ActionTestResult

router = APIRouter(prefix="/actions", tags=["actions"])


@router.get("", responses=error_responses(401))
async def list_actions(_: CurrentUser) -> list[ActionInfo]:
    """Every registered action: the JSON Schema of its `with:` and its secret fields."""
    return actions.catalogue()


@router.post(
    "/{name}/test",
    responses=error_responses(400, 401, 403, 404, 413, 422, 503, 504),
    response_model_exclude_none=True,
)
async def test_action(
    name: str,
    body: ActionTestRequest,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    client: TemporalDep,
    user: CurrentUser,
) -> ActionTestResult:
    """Call the action once, for real, on a worker — the path of a run's step (params
    model, secrets, connection, egress policy, error classification), without retries.

    Designers and admins. The answer is 200 whatever the action did: `{ok: true, output}`
    or `{ok: false, error, error_type, retryable}`; `duration_ms` is the call's time."""
    require_any_role(user, DESIGNER_ROLES, "testing actions")
    params, connection = await actions.check(session, name, body)
    queue = await test_worker.of(request.app).ensure(client, settings)
    return await actions.execute(client, queue, settings.task_queue, name, params, connection)
