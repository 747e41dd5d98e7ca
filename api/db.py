"""Database engine and sessions from `DATABASE_URL`, and migrations at startup.

The API talks to the database asynchronously (aiosqlite for the default SQLite
file, psycopg 3 for PostgreSQL); Alembic migrations run on a synchronous engine
of the same URL. `postgresql://` URLs are read as `postgresql+psycopg://`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

ROOT = Path(__file__).resolve().parent.parent


def _base_url(url: str) -> URL:
    u = make_url(url)
    if u.drivername in ("postgresql", "postgres", "postgresql+psycopg2"):
        u = u.set(drivername="postgresql+psycopg")
    return u


def sync_url(url: str) -> URL:
    u = _base_url(url)
    if u.drivername.startswith("sqlite"):
        u = u.set(drivername="sqlite")
    return u


def async_url(url: str) -> URL:
    u = _base_url(url)
    if u.drivername.startswith("sqlite"):
        u = u.set(drivername="sqlite+aiosqlite")
    return u


def ensure_sqlite_dir(url: str) -> None:
    """Create the directory of a SQLite file (the default lives under `.data/`)."""
    u = make_url(url)
    if u.drivername.startswith("sqlite") and u.database and u.database != ":memory:":
        Path(u.database).expanduser().parent.mkdir(parents=True, exist_ok=True)


@dataclass(frozen=True)
class Timeouts:
    """Seconds: opening a connection, waiting for a pooled one, one statement (PostgreSQL).

    A database that accepts connections but never answers fails a request with 503
    after `connect` seconds instead of hanging it (settings `DATABASE_*_TIMEOUT`)."""

    connect: float = 5.0
    pool: float = 5.0
    statement: float = 15.0


def _pg_connect_args(u: URL, t: Timeouts) -> dict[str, object]:
    # `options` given in the URL (e.g. a search_path) is kept: connect_args would replace it
    options = u.query.get("options", "")
    if isinstance(options, tuple):
        options = " ".join(options)
    statement = f"-c statement_timeout={int(t.statement * 1000)}"
    return {
        "connect_timeout": max(1, round(t.connect)),
        "options": f"{options} {statement}".strip(),
    }


def make_engine(url: str, timeouts: Timeouts | None = None) -> AsyncEngine:
    ensure_sqlite_dir(url)
    t = timeouts or Timeouts()
    u = async_url(url)
    kwargs: dict[str, object] = {"pool_pre_ping": True}
    if u.drivername.startswith("sqlite"):
        # concurrent writers wait for the file lock instead of failing at once
        kwargs["connect_args"] = {"timeout": 30}
    else:
        kwargs["pool_timeout"] = t.pool
        kwargs["connect_args"] = _pg_connect_args(u, t)
    return create_async_engine(u, **kwargs)


def sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)


def alembic_config(url: str) -> Config:
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(ROOT / "alembic"))
    cfg.attributes["sqlalchemy_url"] = sync_url(url)
    return cfg


def migrate(url: str) -> None:
    """`alembic upgrade head` against `url` (blocking; run it in a thread from async code)."""
    ensure_sqlite_dir(url)
    command.upgrade(alembic_config(url), "head")


def sync_engine(url: str):  # type: ignore[no-untyped-def]
    ensure_sqlite_dir(url)
    return create_engine(sync_url(url))
