"""`POST /templates/{name}/test`: a template run on the real engine, nothing real happens (SPEC §13)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from api.auth import DESIGNER_ROLES, require_any_role
from api.deps import CurrentUser, SessionDep, SettingsDep, TemporalDep
from api.errors import error_responses
from api.testing import runner
from api.testing import worker as test_worker
from api.testing.plan import TemplateTestRequest
from api.testing.schemas import TemplateTestResult

router = APIRouter(prefix="/templates", tags=["templates"])


@router.post(
    "/{name}/test", responses=error_responses(400, 401, 403, 404, 413, 422, 503, 504)
)
async def test_template(
    name: str,
    body: TemplateTestRequest,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    client: TemporalDep,
    user: CurrentUser,
    version: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
) -> TemplateTestResult:
    """Run the template (`version`, default the latest) as a test: the real `TemplateWorkflow`
    on its own task queue, every action step answered by its mock, approvals decided as
    scripted, timers skipped, no notifications; not listed among runs nor in analytics.

    Designers and admins. 422 before anything runs when an action step has neither a mock
    nor a place in `allow_real`, or the input or plan does not fit the template. The answer
    (200) is the run's final `state`, `steps`, `output`, `error` and a `trace`."""
    require_any_role(user, DESIGNER_ROLES, "testing templates")
    run = await runner.prepare(session, settings, name, version, body, user)
    queue = await test_worker.of(request.app).ensure(client, settings)
    return await runner.execute(client, queue, run)
