"""Liveness with Temporal and database reachability (no auth)."""

from __future__ import annotations

import asyncio
import logging

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest

from api.errors import ErrorBody
from api.schemas import Health

router = APIRouter(tags=["health"])
log = logging.getLogger("relayflow.api")
TIMEOUT = 5.0


async def _temporal(request: Request) -> bool:
    client = request.app.state.temporal
    if client is None:  # not connected yet (api.temporal keeps trying)
        return False
    try:
        await asyncio.wait_for(
            client.workflow_service.describe_namespace(
                DescribeNamespaceRequest(namespace=client.namespace)
            ),
            TIMEOUT,
        )
        return True
    except Exception as e:  # any failure means "not reachable"
        log.warning("health: Temporal unreachable: %s", e)
        return False


async def _database(request: Request) -> bool:
    try:
        async with request.app.state.sessionmaker() as session:
            await asyncio.wait_for(session.exec(text("SELECT 1")), TIMEOUT)  # type: ignore[call-overload]
        return True
    except Exception as e:  # any failure means "not reachable"
        log.warning("health: database unreachable: %s", e)
        return False


@router.get("/health", responses={503: {"model": ErrorBody, "description": "a dependency is down"}})
async def health(request: Request) -> Health:
    """200 `{status: ok, temporal: ok, database: ok}`, or 503 naming what is down."""
    temporal, database = await asyncio.gather(_temporal(request), _database(request))
    if temporal and database:
        return Health(status="ok", temporal="ok", database="ok")
    down = [name for name, ok in (("temporal", temporal), ("database", database)) if not ok]
    body = {
        "error": "unavailable",
        "detail": f"not reachable: {', '.join(down)}",
        "status": "degraded",
        "temporal": "ok" if temporal else "unreachable",
        "database": "ok" if database else "unreachable",
    }
    return JSONResponse(body, status_code=503)  # type: ignore[return-value]
