"""Database engine and sessions from `DATABASE_URL`, and migrations at startup.

The API talks to the database asynchronously (aiosqlite for the default SQLite
file, psycopg 3 for PostgreSQL); Alembic migrations run on a synchronous engine
of the same URL. `postgresql://` URLs are read as `postgresql+psycopg://`.
"""

from __future__ import annotations

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


def make_engine(url: str) -> AsyncEngine:
    ensure_sqlite_dir(url)
    u = async_url(url)
    kwargs: dict[str, object] = {"pool_pre_ping": True}
    if u.drivername.startswith("sqlite"):
        # concurrent writers wait for the file lock instead of failing at once
        kwargs["connect_args"] = {"timeout": 30}
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
