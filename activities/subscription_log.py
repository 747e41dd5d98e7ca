"""The delivery log of event subscriptions (SPEC §14), written by the workers.

Table `subscription_deliveries` of the registry database (created by the API's
migrations; `GET /subscriptions/{id}/deliveries` reads it): one row per (subscription,
event) with its status (`delivered`, `retrying`, `failed`, `skipped`), the attempts
made and the last error. The worker writes it through its own `DATABASE_URL` (the same
URL the API uses, as for self-service delegations, `activities.delegation`), keeping
the newest `KEEP` rows per subscription.

The log is a record, not the queue: a database the worker cannot reach is logged as a
warning and the delivery goes on (Temporal holds the queue and the retries).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Engine, bindparam, inspect, text
from sqlalchemy.exc import SQLAlchemyError

from activities.delegation import _engine
from settings import get_settings

log = logging.getLogger("relayflow.subscriptions")

TABLE = "subscription_deliveries"
#: rows kept per subscription (the API shows the newest 100)
KEEP = 100
_NOW = bindparam("now", type_=DateTime(timezone=True))
_UPDATE = text(
    f"UPDATE {TABLE} SET status = :status, attempts = :attempts, last_error = :error, "
    "updated_at = :now WHERE subscription_id = :sub AND event_id = :event"
).bindparams(_NOW)
_INSERT = text(
    f"INSERT INTO {TABLE} (subscription_id, event_id, run_id, type, status, attempts, "
    "last_error, created_at, updated_at) VALUES (:sub, :event, :run, :type, :status, "
    ":attempts, :error, :now, :now)"
).bindparams(_NOW)
_TRIM = text(
    f"DELETE FROM {TABLE} WHERE subscription_id = :sub AND event_id NOT IN ("
    f"SELECT event_id FROM {TABLE} WHERE subscription_id = :sub "
    f"ORDER BY created_at DESC LIMIT {KEEP})"
)
_EXISTS = text("SELECT 1 FROM subscriptions WHERE id = :sub")


def _db() -> Engine | None:
    return _engine(get_settings().database_url)


def _record(
    sub: str, event: dict[str, Any], status: str, attempts: int | None, error: str | None
) -> None:
    engine = _db()
    if engine is None:
        return
    now = datetime.now(UTC)
    values = {
        "sub": sub,
        "event": str(event.get("id")),
        "run": str(event.get("run_id")),
        "type": str(event.get("type")),
        "status": status,
        "attempts": attempts or 0,
        "error": error[:2000] if error else None,
        "now": now,
    }
    with engine.begin() as conn:
        if attempts is None:  # give_up: keep the attempts counted so far
            row = conn.execute(
                text(
                    f"SELECT attempts FROM {TABLE} WHERE subscription_id = :sub "
                    "AND event_id = :event"
                ),
                values,
            ).first()
            values["attempts"] = row[0] if row else 0
        if conn.execute(_UPDATE, values).rowcount == 0:
            conn.execute(_INSERT, values)
            conn.execute(_TRIM, values)


async def record(
    sub: str, event: dict[str, Any], status: str, attempts: int | None, error: str | None = None
) -> None:
    """Write one delivery's state (best effort: a database error is only logged)."""
    try:
        await asyncio.to_thread(_record, sub, event, status, attempts, error)
    except SQLAlchemyError as exc:
        log.warning("cannot write the delivery log of %s: %s", sub, str(exc).splitlines()[0])


def _exists(sub: str) -> bool:
    engine = _db()
    if engine is None:
        return True
    with engine.connect() as conn:
        if not inspect(conn).has_table("subscriptions"):
            return True
        return conn.execute(_EXISTS, {"sub": sub}).first() is not None


async def exists(sub: str) -> bool:
    """False once the subscription was deleted (its pinned deliveries stop); True when unsure."""
    try:
        return await asyncio.to_thread(_exists, sub)
    except SQLAlchemyError:
        return True
