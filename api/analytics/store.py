"""Writes to the analytics store: one transaction per run, refused by the database when
the run is already there, and the ingester's watermark.

Idempotence is the database's job, not the ingester's: the run row is inserted with
`ON CONFLICT DO NOTHING ... RETURNING`, and the run's other rows are written only when
that insert returned the row. Two API replicas reading the same run race on the
primary key; the loser writes nothing (on PostgreSQL its insert waits for the winner's
commit, then does nothing), so nothing is ever counted twice.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from api.analytics.record import RunRecord
from api.analytics.tables import (
    AnalyticsDecision,
    AnalyticsRun,
    AnalyticsSla,
    AnalyticsState,
    AnalyticsStep,
)

WATERMARK = "closed_watermark"

RUNS = AnalyticsRun.__table__  # type: ignore[attr-defined]
STEPS = AnalyticsStep.__table__  # type: ignore[attr-defined]
DECISIONS = AnalyticsDecision.__table__  # type: ignore[attr-defined]
SLA = AnalyticsSla.__table__  # type: ignore[attr-defined]
STATE = AnalyticsState.__table__  # type: ignore[attr-defined]


def _insert(conn: AsyncConnection, table: Any) -> Any:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(table)


class Store:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def known(self, run_ids: Iterable[str]) -> set[str]:
        ids = list(run_ids)
        if not ids:
            return set()
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(RUNS.c.run_id).where(RUNS.c.run_id.in_(ids)))
            return {r[0] for r in rows}

    async def write(self, record: RunRecord) -> bool:
        """Insert the run and its rows; False (nothing written) when the run is already stored."""
        async with self.engine.begin() as conn:
            stmt = (
                _insert(conn, RUNS)
                .values(**record.run.model_dump())
                .on_conflict_do_nothing(index_elements=["run_id"])
                .returning(RUNS.c.run_id)
            )
            if (await conn.execute(stmt)).first() is None:
                return False
            for table, rows in (
                (STEPS, record.steps),
                (DECISIONS, record.decisions),
                (SLA, record.sla),
            ):
                if rows:
                    await conn.execute(table.insert(), [r.model_dump() for r in rows])
            return True

    async def watermark(self) -> datetime | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(STATE.c.at).where(STATE.c.key == WATERMARK))).first()
            return row[0] if row else None

    async def advance(self, at: datetime) -> None:
        """Move the watermark forward to `at` (never back: replicas may race)."""
        async with self.engine.begin() as conn:
            await conn.execute(
                _insert(conn, STATE)
                .values(key=WATERMARK, at=at)
                .on_conflict_do_nothing(index_elements=["key"])
            )
            await conn.execute(
                update(STATE).where(STATE.c.key == WATERMARK, STATE.c.at < at).values(at=at)
            )
