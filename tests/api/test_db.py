"""Migrations match the models; the template loader used by `make run`."""

from __future__ import annotations

from pathlib import Path

import httpx
import yaml
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from fastapi import FastAPI
from sqlmodel import SQLModel

import api.models  # noqa: F401
from api.db import sync_engine
from api.load_templates import load, main
from settings import Settings
from tests.api.conftest import auth, simple_template, unique


def test_migrations_match_models(app: FastAPI, settings: Settings) -> None:
    engine = sync_engine(settings.database_url)
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    finally:
        engine.dispose()
    assert diff == []


async def test_loader_saves_then_skips_unchanged(
    app: FastAPI, api: httpx.AsyncClient, tmp_path: Path
) -> None:
    child, parent = unique("ld-child"), unique("ld-parent")
    # the parent sorts first and needs the child: the loader retries it
    (tmp_path / "a.yaml").write_text(
        yaml.safe_dump({"name": parent, "steps": [{"id": "s", "subflow": {"template": child}}]})
    )
    (tmp_path / "b.yml").write_text(yaml.safe_dump(simple_template(child)))
    (tmp_path / "c.yaml").write_text("name: [broken")
    (tmp_path / "examples").mkdir()  # run inputs, not templates: not loaded
    (tmp_path / "examples" / "x.yaml").write_text("amount: 3")
    (tmp_path / "input.json").write_text("{}")
    engine = app.state.sessionmaker.kw["bind"]
    results = await load(engine, [tmp_path])
    assert results[str(tmp_path / "a.yaml")] == f"saved {parent}@1"
    assert results[str(tmp_path / "b.yml")] == f"saved {child}@1"
    assert results[str(tmp_path / "c.yaml")].startswith("error")
    assert len(results) == 3
    again = await load(engine, [tmp_path / "a.yaml", tmp_path / "b.yml"])
    assert set(again.values()) == {f"unchanged {parent}@1", f"unchanged {child}@1"}
    (tmp_path / "b.yml").write_text(yaml.safe_dump(simple_template(child, description="new")))
    assert (await load(engine, [tmp_path / "b.yml"]))[str(tmp_path / "b.yml")] == f"saved {child}@2"
    r = await api.get(f"/templates/{child}/versions", headers=auth("eve"))
    assert [v["version"] for v in r.json()] == [1, 2]


def test_loader_cli(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    db = tmp_path / "sub" / "cli.db"
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{db}")
    from settings import get_settings

    get_settings.cache_clear()
    try:
        (tmp_path / "t.yaml").write_text(yaml.safe_dump(simple_template("cli-tpl")))
        assert main([str(tmp_path)]) == 0
        assert db.exists()
        (tmp_path / "bad.yaml").write_text("steps: 3")
        assert main([str(tmp_path)]) == 1
    finally:
        get_settings.cache_clear()
