"""`POST /decisions`: many decisions in one request (SPEC §11)."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import CurrentUser, TemporalDep
from api.errors import error_responses
from api.schemas_people import BulkDecisions, BulkResults
from api.services import decisions

router = APIRouter(tags=["runs"])


@router.post("/decisions", responses=error_responses(400, 401, 413, 422))
async def decide_many(body: BulkDecisions, client: TemporalDep, user: CurrentUser) -> BulkResults:
    """Up to 100 decisions as the caller. Always 200: each result's `status` is what
    `POST /runs/{run_id}/steps/{step}/decision` would have answered for that item
    (200, 403, 404, 409, 422, ...), with `error` and `detail` when it is not 200."""
    return BulkResults(results=await decisions.bulk(client, user, body.decisions))
