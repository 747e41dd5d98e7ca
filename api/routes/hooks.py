"""Inbound webhooks: HMAC-signed deliveries that start runs through trigger rules."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, status

from api.deps import SessionDep, SettingsDep, TemporalDep
from api.errors import error_responses
from api.schemas import TRIGGER_ID, Finding, HookResult
from api.services import triggers

router = APIRouter(tags=["triggers"])

_BODY: dict[str, Any] = {
    "requestBody": {
        "required": False,
        "description": "The sender's JSON payload; signed with HMAC-SHA256 in `X-Signature-256` "
        "or `X-Hub-Signature-256` (`sha256=<hex>`).",
        "content": {"application/json": {"schema": {}}},
    },
    "security": [],
}


@router.post(
    "/hooks/{source}",
    status_code=status.HTTP_202_ACCEPTED,
    openapi_extra=_BODY,
    responses=error_responses(401, 413, 422),
)
async def receive_hook(
    source: Annotated[str, Path(pattern=TRIGGER_ID)],
    request: Request,
    session: SessionDep,
    client: TemporalDep,
    settings: SettingsDep,
) -> HookResult:
    """Run every matching rule of `source`; a repeated delivery id returns the first runs."""
    raw = await request.body()
    headers = {k.lower(): v for k, v in request.headers.items()}
    result = await triggers.deliver(session, client, settings, source, raw, headers)
    return HookResult(
        runs=result.runs,
        duplicate=result.duplicate,
        skipped=[Finding(loc=s.loc, msg=s.msg) for s in result.skipped],
    )
