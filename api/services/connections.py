"""Connections in the registry database (SPEC §8): CRUD, pinning at run start, health.

Health checks run in the API process through the shared outbound client
(`activities.outbound`, so the egress policy applies; a connection's own base_url is
allowed): on demand (`check_now`) and on schedule (`HealthScheduler`, a background
task of every API replica). A scheduled check is *claimed* first by moving
``checked_at`` forward with a conditional UPDATE (``WHERE checked_at = <the value
read>``): of several replicas that see the same due connection, one wins the claim
and checks it; the others skip it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from activities import outbound
from activities.connections import Connection, Health, HealthCheck, check_health
from api.connection_schemas import ConnectionIn, ConnectionUpdate, pinned
from api.errors import Conflict, ErrorItem, Invalid, NotFound
from api.models import ConnectionRow, utcnow
from workflows.language.durations import parse_duration

log = logging.getLogger("relayflow.connections")
#: how often each API replica looks for due health checks
TICK_SECONDS = 5.0
#: at most this many checks at once per replica
CONCURRENT_CHECKS = 10


async def list_all(session: AsyncSession) -> Sequence[ConnectionRow]:
    return (await session.exec(select(ConnectionRow).order_by(col(ConnectionRow.name)))).all()


async def find(session: AsyncSession, name: str) -> ConnectionRow | None:
    return await session.get(ConnectionRow, name)


async def get(session: AsyncSession, name: str) -> ConnectionRow:
    row = await find(session, name)
    if row is None:
        raise NotFound(f"connection {name!r} does not exist")
    return row


async def names(session: AsyncSession) -> set[str]:
    return set((await session.exec(select(ConnectionRow.name))).all())


def _definition(body: ConnectionIn | ConnectionUpdate) -> dict[str, Any]:
    return {
        "base_url": body.base_url,
        "auth": body.auth.model_dump(mode="json") if body.auth else None,
        "headers": dict(body.headers),
        "health": body.health.model_dump(mode="json") if body.health else None,
    }


async def create(session: AsyncSession, body: ConnectionIn, user: str) -> ConnectionRow:
    if await find(session, body.name) is not None:
        raise Conflict(f"connection {body.name!r} already exists (PUT /connections/{body.name})")
    row = ConnectionRow(name=body.name, created_by=user, updated_by=user, **_definition(body))
    session.add(row)
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()
        raise Conflict(f"connection {body.name!r} already exists") from None
    await session.refresh(row)
    return row


async def update_one(
    session: AsyncSession, name: str, body: ConnectionUpdate, user: str
) -> ConnectionRow:
    if body.name is not None and body.name != name:
        raise Invalid(
            f"the body names connection {body.name!r}, the URL {name!r}",
            [ErrorItem(loc="name", msg="must match the connection in the URL")],
        )
    row = await get(session, name)
    new = _definition(body)
    changed = any(getattr(row, k) != v for k, v in new.items())
    for key, value in new.items():
        setattr(row, key, value)
    row.updated_at, row.updated_by = utcnow(), user
    if changed:  # a new definition has not been checked yet
        row.health_status, row.checked_at, row.latency_ms, row.health_error = (
            "unknown",
            None,
            None,
            None,
        )
    session.add(row)
    await session.commit()
    await session.refresh(row)
    return row


async def delete(session: AsyncSession, name: str) -> None:
    row = await get(session, name)
    await session.delete(row)
    await session.commit()


async def pin(session: AsyncSession, refs: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    """The non-secret part of every connection in ``refs`` (name → loc), or `Invalid`."""
    found: dict[str, dict[str, Any]] = {}
    missing: list[ErrorItem] = []
    for name, loc in sorted(refs.items()):
        row = await find(session, name)
        if row is None:
            missing.append(ErrorItem(loc=loc, msg=f"unknown connection '{name}'"))
        else:
            found[name] = pinned(row)
    if missing:
        raise Invalid(
            f"the template uses a connection that does not exist: {missing[0].loc}: "
            f"{missing[0].msg} (an admin defines it: POST /connections)",
            missing,
        )
    return found


# -- health --------------------------------------------------------------------------


async def _check(row: ConnectionRow) -> Health:
    conn = Connection(name=row.name, base_url=row.base_url, auth=row.auth, headers=row.headers)
    return await check_health(outbound.client(), conn, HealthCheck.model_validate(row.health or {}))


async def _record(
    session: AsyncSession, name: str, health: Health, updated_at: datetime | None = None
) -> None:
    """Store a result; with `updated_at`, only if the definition was not changed since."""
    stmt = update(ConnectionRow).where(col(ConnectionRow.name) == name)
    if updated_at is not None:
        stmt = stmt.where(col(ConnectionRow.updated_at) == updated_at)
    await session.exec(
        stmt.values(  # type: ignore[call-overload]
            health_status=health.status,
            checked_at=health.checked_at,
            latency_ms=health.latency_ms,
            health_error=health.error,
        )
    )
    await session.commit()


async def check_now(session: AsyncSession, name: str) -> ConnectionRow:
    """Run the health check now (`POST /connections/{name}/check`) and record it."""
    row = await get(session, name)
    health = await _check(row)
    await _record(session, name, health)
    await session.refresh(row)
    return row


def due(row: ConnectionRow, now: datetime) -> bool:
    """A scheduled check is due: a health definition, and never checked or `every` ago."""
    if not row.health:
        return False
    if row.checked_at is None:
        return True
    every = parse_duration(HealthCheck.model_validate(row.health).every)
    return row.checked_at + every <= now


async def claim(session: AsyncSession, row: ConnectionRow, now: datetime) -> bool:
    """Move `checked_at` from the value read to now; False when another replica won."""
    seen = col(ConnectionRow.checked_at)
    stmt = (
        update(ConnectionRow)
        .where(col(ConnectionRow.name) == row.name)
        .where(seen.is_(None) if row.checked_at is None else seen == row.checked_at)
        .values(checked_at=now)
    )
    result = await session.exec(stmt)  # type: ignore[call-overload]
    await session.commit()
    return bool(result.rowcount)


Sessions = Callable[[], AbstractAsyncContextManager[AsyncSession]]


class HealthScheduler:
    """Background task of the API: every `TICK_SECONDS`, check the due connections."""

    def __init__(self, sessions: Sessions, tick: float = TICK_SECONDS) -> None:
        self.sessions, self.tick = sessions, tick
        self._limit = asyncio.Semaphore(CONCURRENT_CHECKS)

    async def run(self) -> None:
        while True:
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:  # the database may be down for a while: try again later
                log.warning("connection health checks failed this round", exc_info=True)
            await asyncio.sleep(self.tick)

    async def run_once(self) -> int:
        """Check every due connection this replica could claim; returns how many."""
        now = utcnow()
        async with self.sessions() as session:
            rows = [r for r in await list_all(session) if due(r, now)]
        results = await asyncio.gather(*(self._one(r, now) for r in rows))
        return sum(results)

    async def _one(self, row: ConnectionRow, now: datetime) -> bool:
        async with self._limit:
            async with self.sessions() as session:
                if not await claim(session, row, now):
                    return False
            health = await _check(row)
            async with self.sessions() as session:
                await _record(session, row.name, health, updated_at=row.updated_at)
            return True
