"""Recovery (SPEC §9): redrive a run that ended badly, resolve a held step.

Both depend on `ReadableRun` first (a caller who may not read the run gets 404, as on
every `/runs/{run_id}/…` route); then 403 for readers who may not act."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, status

from api.deps import CurrentUser, ReadableRun, SessionDep, SettingsDep, TemporalDep
from api.errors import error_responses
from api.schemas import Redriven, RedriveRun, Resolve
from api.services import incidents, redrive
from workflows.engine.io import ResolveInput, StepStatus

router = APIRouter(prefix="/runs", tags=["runs"])

StepPath = Annotated[str, Path(min_length=1, max_length=300)]


@router.post(
    "/{run_id}/redrive",
    status_code=status.HTTP_202_ACCEPTED,
    responses=error_responses(400, 401, 403, 404, 409, 413, 422, 503),
)
async def redrive_run(
    run: ReadableRun,
    client: TemporalDep,
    session: SessionDep,
    settings: SettingsDep,
    user: CurrentUser,
    body: RedriveRun | None = None,
) -> Redriven:
    """Start the run again under the same id, keeping what succeeded (its starter, an
    operator or an admin). Only when its latest execution failed, was cancelled, timed
    out or was terminated (409 otherwise); `version` moves it to a later version of its
    template (409 naming the carried steps that version lacks)."""
    version = body.version if body is not None else None
    done = await redrive.redrive(client, session, settings, run.run_id, user, version, run.desc)
    return Redriven(run_id=done.run_id, redrive=done.redrive, version=done.version)


@router.post(
    "/{run_id}/steps/{step}/resolve",
    responses=error_responses(400, 401, 403, 404, 409, 413, 422, 504),
)
async def resolve_step(
    run: ReadableRun,
    step: StepPath,
    body: Resolve,
    client: TemporalDep,
    session: SessionDep,
    settings: SettingsDep,
    user: CurrentUser,
) -> StepStatus:
    """Resolve a held step (operator, admin): `retry` (optionally with patched `with`
    keys), `skip` (with an `output`) or `fail`. 409 when the step is not held; 504 as for
    decisions when no worker takes it."""
    arg = ResolveInput(
        step=step,
        action=body.action,
        actor=user.id,
        output=body.output,
        comment=body.comment,
        **{"with": body.with_},
    )
    return await incidents.resolve(
        client, session, run, step, user, arg, limit=settings.decision_timeout
    )
