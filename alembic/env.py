"""Alembic environment: SQLModel metadata of `api.models`, URL from settings (or the caller)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, text
from sqlmodel import SQLModel

import api.analytics.tables  # noqa: F401  (registers the analytics tables)
import api.models  # noqa: F401  (registers the tables on SQLModel.metadata)
from api.db import sync_url
from settings import get_settings

config = context.config
target_metadata = SQLModel.metadata


def _url():  # type: ignore[no-untyped-def]
    return config.attributes.get("sqlalchemy_url") or sync_url(get_settings().database_url)


def run_migrations_offline() -> None:
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = create_engine(_url())
    with engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            # API replicas starting together migrate one at a time
            connection.execute(text("SELECT pg_advisory_lock(7733001)"))
            connection.commit()
        context.configure(connection=connection, target_metadata=target_metadata)
        with context.begin_transaction():
            context.run_migrations()
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_unlock(7733001)"))
            connection.commit()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
