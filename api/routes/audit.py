"""`GET /runs/{run_id}/audit`: who did what in a run, in time order (JSON or CSV)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response
from temporalio.service import RPCError

from api.analytics import access
from api.analytics.audit import AuditTrail, run_audit
from api.analytics.csvout import csv_response
from api.deps import CurrentUser, TemporalDep
from api.errors import error_responses
from api.schemas import RUN_ID
from api.services.temporal_errors import describe, rpc_error
from workflows.engine import search_attributes as sa

router = APIRouter(prefix="/runs", tags=["runs"])

COLUMNS = ("at", "kind", "step", "actor", "detail")


@router.get(
    "/{run_id}/audit",
    response_model=AuditTrail,
    responses=error_responses(401, 403, 404, 422)
    | {
        200: {
            "content": {"text/csv": {}},
            "description": "the trail (JSON, or CSV with format=csv)",
        }
    },
)
async def audit(
    run_id: Annotated[str, Path(pattern=RUN_ID)],
    client: TemporalDep,
    user: CurrentUser,
    format: Annotated[Literal["json", "csv"], Query()] = "json",  # noqa: A002 - the API's name
) -> AuditTrail | Response:
    """Every event of the run with its actor: start, steps, approvals opened / decided /
    reassigned, SLA levels fired, pause / resume / cancel, the close (`at` RFC 3339)."""
    desc = await describe(client, run_id)  # 404 for an unknown run
    access.check_run(user, run_id, desc.typed_search_attributes.get(sa.STARTED_BY))
    try:
        trail = await run_audit(client, run_id)
    except RPCError as e:
        raise rpc_error(e, run_id) from None
    if format == "csv":
        rows = [e.model_dump(mode="json") for e in trail.events]
        return csv_response(COLUMNS, rows, f"{run_id}-audit.csv")
    return trail
