"""Runs: start, list, read, pause/resume/cancel, decisions and reassignment.

Every `/runs/{run_id}/…` route depends on `ReadableRun` (api/services/access.py): a caller
who may not read the run gets the 404 of a missing run before anything else is checked."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status

from api.deps import CurrentUser, ReadableRun, SessionDep, SettingsDep, TemporalDep
from api.errors import error_responses
from api.schemas import (
    RUN_ID,
    Accepted,
    Decision,
    Reassign,
    RunDetail,
    RunItem,
    RunPage,
    RunRef,
    StartRun,
)
from api.services import access, listing, runs, starting
from workflows.engine import search_attributes as sa
from workflows.engine.io import StepStatus

router = APIRouter(prefix="/runs", tags=["runs"])

RunIdPath = Annotated[str, Path(pattern=RUN_ID)]
StepPath = Annotated[str, Path(min_length=1, max_length=300)]
Filter = Annotated[str | None, Query(min_length=1, max_length=200)]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(400, 401, 404, 409, 413, 422)
    | {200: {"model": RunRef, "description": "the same run was already started"}},
)
async def start_run(
    body: StartRun,
    response: Response,
    session: SessionDep,
    client: TemporalDep,
    settings: SettingsDep,
    user: CurrentUser,
) -> RunRef:
    """Start a run of a template version (default: the latest). A repeated `run_id` is 409,
    or 200 with the existing run when template and input are identical."""
    run = await starting.prepare(
        session, settings, body.template, body.version, body.input, user.id, body.tags
    )
    run_id = body.run_id or starting.new_run_id(body.template)
    started = await starting.start(
        client, settings, run, run_id, same_version=body.version is not None
    )
    if not started.created:
        response.status_code = status.HTTP_200_OK
    return RunRef(
        run_id=started.run_id,
        template=started.template,
        version=started.version,
        ui_url=starting.ui_url(settings, client.namespace, started.run_id),
    )


@router.get("", responses=error_responses(401, 422, 503))
async def list_runs(
    client: TemporalDep,
    settings: SettingsDep,
    session: SessionDep,
    user: CurrentUser,
    template: Filter = None,
    state: Filter = None,
    assignee: Filter = None,
    tag: Filter = None,
    started_by: Filter = None,
    page_size: Annotated[int, Query(ge=1, le=1000)] = 50,
    next_page_token: Annotated[str | None, Query(max_length=10_000)] = None,
) -> RunPage:
    """Runs from Temporal visibility, newest first (open runs before closed ones); only runs
    the caller may read: started by them, with an open approval for them, or of a template
    they own (operators and admins: all)."""
    filters = listing.RunFilter(template, state, assignee, tag, started_by)
    filters.scope = await access.list_scope(session, user)
    found, token = await listing.list_runs(
        client, filters, page_size, next_page_token, settings.temporal_rpc_timeout
    )
    items = [
        RunItem(**r.model_dump(), ui_url=starting.ui_url(settings, client.namespace, r.run_id))
        for r in found
    ]
    return RunPage(runs=items, next_page_token=token)


@router.get("/{run_id}", responses=error_responses(401, 404, 422))
async def get_run(
    run_id: RunIdPath, run: ReadableRun, client: TemporalDep, settings: SettingsDep
) -> RunDetail:
    """The run status document (also for closed runs); 404 to callers who may not read it."""
    doc = await run.status(client)
    attrs = run.desc.typed_search_attributes
    return RunDetail(
        **doc.model_dump(),
        ui_url=starting.ui_url(settings, client.namespace, run_id),
        started_by=attrs.get(sa.STARTED_BY),
        tags=list(attrs.get(sa.RUN_TAGS) or []),
    )


def _control(action: str):  # type: ignore[no-untyped-def]
    async def endpoint(
        run_id: RunIdPath, run: ReadableRun, client: TemporalDep, user: CurrentUser
    ) -> Accepted:
        await runs.control(client, run_id, action, user, run.desc)
        return Accepted(run_id=run_id, action=action)

    endpoint.__doc__ = f"{action.capitalize()} the run (its starter, an operator or an admin)."
    endpoint.__name__ = f"{action}_run"
    return endpoint


for _action in ("pause", "resume", "cancel"):
    router.add_api_route(
        f"/{{run_id}}/{_action}",
        _control(_action),
        methods=["POST"],
        status_code=status.HTTP_202_ACCEPTED,
        responses=error_responses(401, 403, 404, 409, 422),
        name=f"{_action}_run",
    )


@router.post(
    "/{run_id}/steps/{step}/decision",
    responses=error_responses(400, 401, 403, 404, 409, 413, 422, 504),
)
async def decide(
    run_id: RunIdPath,
    run: ReadableRun,
    step: StepPath,
    body: Decision,
    client: TemporalDep,
    settings: SettingsDep,
    user: CurrentUser,
) -> StepStatus:
    """Decide an open approval as the caller (admins may decide for anyone; it is recorded).

    504 when the run does not take the decision within `DECISION_TIMEOUT` (no worker):
    such a decision is not applied, not even later."""
    return await runs.decide(
        client,
        run_id,
        step,
        user,
        body.outcome,
        body.comment,
        body.data,
        limit=settings.decision_timeout,
    )


@router.post(
    "/{run_id}/steps/{step}/reassign",
    responses=error_responses(400, 401, 403, 404, 409, 413, 422, 504),
)
async def reassign(
    run_id: RunIdPath,
    run: ReadableRun,
    step: StepPath,
    body: Reassign,
    client: TemporalDep,
    settings: SettingsDep,
    user: CurrentUser,
) -> StepStatus:
    """Replace the assignees of an open approval (operator/admin, or a current assignee
    handing over their own seat); 504 as for decisions."""
    return await runs.reassign(
        client, run_id, step, user, body.users, body.roles, limit=settings.decision_timeout
    )
