"""`GET /analytics/*` (SPEC §10): how templates are doing over the runs closed in a window.

Any authenticated user; the caller's run-read filter (`api.analytics.access`) applies.
Figures come from the analytics store the ingester fills (api/analytics/ingest.py),
plus open-run counts from Temporal visibility.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncConnection

from api.analytics import access, report, visibility
from api.analytics.csvout import csv_response
from api.analytics.schemas import SlaRow, TemplateDetail, TemplateStats
from api.deps import CurrentUser, TemporalDep
from api.errors import Invalid, error_responses
from workflows.language.durations import DurationError, parse_duration

router = APIRouter(prefix="/analytics", tags=["analytics"])

SLA_COLUMNS = ("run_id", "template", "step", "level", "fired_at", "assignees")


async def _conn(request: Request) -> AsyncIterator[AsyncConnection]:
    async with request.app.state.engine.connect() as conn:
        yield conn


Conn = Annotated[AsyncConnection, Depends(_conn)]
Since = Annotated[
    str,
    Query(
        max_length=40,
        description="Window: runs closed in the last `since` (`7d`, `12h`, `PT30M`).",
    ),
]


def window_start(since: str) -> datetime:
    try:
        return datetime.now(UTC) - parse_duration(since)
    except DurationError as e:
        raise Invalid(f"since: {e}") from None
    except OverflowError:
        return datetime.now(UTC) - timedelta(days=3650)


@router.get("/templates", responses=error_responses(401, 422))
async def list_templates(
    conn: Conn, client: TemporalDep, user: CurrentUser, since: Since = "7d"
) -> list[TemplateStats]:
    """Per template: runs, completed / failed / cancelled / open, success rate, duration p50/p95."""
    start = window_start(since)
    # the visibility listing and the store's scan run side by side
    counting = asyncio.create_task(
        visibility.open_runs(client, start, extra=access.visible_runs(user))
    )
    try:
        closed = await report.templates(conn, start, {}, access.readable_runs(user))
    finally:
        open_runs = await counting
    if set(open_runs) - {t.template for t in closed}:
        return await report.templates(conn, start, open_runs, access.readable_runs(user))
    return [report.with_open(t, open_runs.get(t.template, 0)) for t in closed]


@router.get("/templates/{name}", responses=error_responses(401, 422))
async def template_detail(
    name: Annotated[str, Path(min_length=1, max_length=100)],
    conn: Conn,
    client: TemporalDep,
    user: CurrentUser,
    since: Since = "7d",
) -> TemplateDetail:
    """One template: the summary plus steps, approvals (by outcome, by actor, turnaround),
    SLA levels fired and the ten most frequent step errors."""
    start = window_start(since)
    counting = asyncio.create_task(
        visibility.open_runs(client, start, name, access.visible_runs(user))
    )
    try:
        found = await report.detail(conn, name, start, 0, access.readable_runs(user))
    finally:
        open_runs = await counting
    return report.with_open(found, open_runs.get(name, 0))


@router.get(
    "/sla",
    response_model=list[SlaRow],
    responses=error_responses(401, 422)
    | {200: {"content": {"text/csv": {}}, "description": "JSON rows, or CSV with format=csv"}},
)
async def sla(
    conn: Conn,
    user: CurrentUser,
    since: Since = "7d",
    template: Annotated[str | None, Query(min_length=1, max_length=100)] = None,
    format: Annotated[Literal["json", "csv"], Query()] = "json",  # noqa: A002 - the API's name
) -> list[SlaRow] | Response:
    """Every SLA level fired in runs closed in the window: run, step, level, when, assignees."""
    rows = await report.sla_rows(conn, window_start(since), template, access.readable_runs(user))
    if format == "csv":
        return csv_response(SLA_COLUMNS, (r.model_dump(mode="json") for r in rows), "sla.csv")
    return rows
