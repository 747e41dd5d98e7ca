"""Migration 0003_owners backfills owners from the first saver, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from alembic import command
from sqlalchemy import text

from api.db import alembic_config, sync_engine
from tests.api.conftest import PG_DSN, pg_url


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.db'}"
        return
    schema = f"rf_mig_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield pg_url(schema)
    finally:
        with psycopg.connect(PG_DSN, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def test_backfill_from_first_saver(fresh_url: str) -> None:
    command.upgrade(alembic_config(fresh_url), "0001")
    rows = [
        ("by-dana", 1, "dana"),  # first saver recorded: owner
        ("by-dana", 2, "dirk"),  # a later saver is not an owner
        ("by-loader", 1, "loader"),  # the built-in loader never owns
        ("by-loader", 2, "dana"),
        ("unknown", 1, None),  # not recorded: no owner (admins only)
        ("gone-v1", 2, "carl"),  # oldest stored version counts when v1 is missing
    ]
    engine = sync_engine(fresh_url)
    try:
        with engine.begin() as conn:
            for name, version, by in rows:
                conn.execute(
                    text(
                        "INSERT INTO template_versions (name, version, body, created_at, created_by) "
                        "VALUES (:n, :v, :b, CURRENT_TIMESTAMP, :by)"
                    ),
                    {"n": name, "v": version, "b": '{"name": "x"}', "by": by},
                )
        command.upgrade(alembic_config(fresh_url), "head")
        with engine.connect() as conn:
            owners = sorted(
                tuple(r) for r in conn.execute(text("SELECT name, user_id FROM template_owners"))
            )
        assert owners == [("by-dana", "dana"), ("gone-v1", "carl")]
        command.downgrade(alembic_config(fresh_url), "0001")
        with engine.connect() as conn:
            assert conn.execute(text("SELECT COUNT(*) FROM template_versions")).scalar() == 6
    finally:
        engine.dispose()
