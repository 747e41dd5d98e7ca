"""Out-of-office delegation for assignee resolution (SPEC §11), on the worker side.

Two sources, merged per user (the self-service one wins):
- `delegate: {to, until?}` on a directory user (`DIRECTORY_FILE`);
- `PUT /me/delegation`, stored by the API in the registry database's `delegations`
  table. The worker reads that table **read-only** through its own `DATABASE_URL`
  (the same URL the API uses; `docker-compose.yml` gives both the PostgreSQL URL).
  A missing SQLite file or a database the API never migrated means "no self-service
  delegations"; an unreachable database fails the activity with a retryable error,
  so Temporal retries it like any other activity.

`follow` walks a chain: mike → mia → sam resolves mike to sam; at most `MAX_HOPS`
hops; a cycle stops at the first user seen twice (mike → mia → mike resolves to
mike). Delegations whose `until` has passed, and delegations to users missing from
a non-empty directory, are ignored.
"""

from __future__ import annotations

import threading
from datetime import datetime
from pathlib import Path

from sqlalchemy import Engine, create_engine, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from temporalio.exceptions import ApplicationError

from activities.directory import Delegate, Directory

MAX_HOPS = 5

_engines: dict[str, Engine] = {}
_lock = threading.Lock()


def _engine(url: str) -> Engine | None:
    """A cached synchronous engine for `url`, or None for a SQLite file that does not exist."""
    u = make_url(url)
    if u.drivername in ("postgresql", "postgres", "postgresql+psycopg2"):
        u = u.set(drivername="postgresql+psycopg")
    if u.drivername.startswith("sqlite"):
        if not u.database or u.database == ":memory:" or not Path(u.database).exists():
            return None
        u = u.set(drivername="sqlite")
    key = u.render_as_string(hide_password=False)
    with _lock:
        if key not in _engines:
            _engines[key] = create_engine(u, pool_pre_ping=True)
        return _engines[key]


def stored(database_url: str) -> dict[str, Delegate]:
    """The `delegations` table as `{user: Delegate}` (blocking: call it in a thread)."""
    engine = _engine(database_url)
    if engine is None:
        return {}
    try:
        with engine.connect() as conn:
            if not inspect(conn).has_table("delegations"):
                return {}
            rows = conn.execute(text("SELECT user_id, to_user, until FROM delegations")).all()
    except SQLAlchemyError as exc:
        raise ApplicationError(
            f"cannot read delegations from the database: {str(exc).splitlines()[0]}",
            type="DelegationsUnavailable",
        ) from None
    return {r[0]: Delegate(to=r[1], until=r[2]) for r in rows}


def active_map(
    directory: Directory, self_service: dict[str, Delegate], now: datetime
) -> dict[str, str]:
    """user -> delegate for every delegation active at `now` (self-service wins)."""
    merged: dict[str, Delegate] = {u.id: u.delegate for u in directory.users if u.delegate}
    merged.update(self_service)
    known = {u.id for u in directory.users}
    return {
        user: d.to
        for user, d in merged.items()
        if d.active(now) and d.to != user and (not known or d.to in known)
    }


def follow(user: str, delegations: dict[str, str]) -> str:
    """Where `user`'s tasks go: the end of the chain, at most MAX_HOPS hops, a cycle
    stopping at the first repeated user."""
    seen = {user}
    current = user
    for _ in range(MAX_HOPS):
        nxt = delegations.get(current)
        if nxt is None:
            break
        current = nxt
        if current in seen:
            break
        seen.add(current)
    return current
