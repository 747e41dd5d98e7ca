"""Issue 20, bad input: each of these was a 500 (or a stored value that broke every reader);
now a 4xx with `{error, detail}` at the door, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from temporalio.worker import Worker

from api.deps import SessionDep
from tests.api.conftest import auth, save, simple_template, unique

YAML = {"Content-Type": "application/yaml"}


JSON = {"Content-Type": "application/json"}


def deep(levels: int, leaf: Any = 1) -> Any:
    value = leaf
    for _ in range(levels):
        value = {"a": value}
    return value


def deep_text(levels: int) -> str:
    """`{"a": {"a": ... 1}}` as text (json.dumps itself gives up past ~1000 levels)."""
    return '{"a": ' * levels + "1" + "}" * levels


def assert_error(r: httpx.Response, status: int = 422, *words: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body: dict[str, Any] = r.json()
    assert set(body) >= {"error", "detail"} and body["detail"]
    for w in words:
        assert w in body["detail"], body
    return body


async def readers_still_fine(api: httpx.AsyncClient) -> None:
    """What broke for everyone before: the list of templates."""
    r = await api.get("/templates", headers=auth("eve"))
    assert r.status_code == 200, r.text


@pytest.mark.parametrize(
    ("doc", "words"),
    [
        ("name: x\n? [a, b]\n: 1\nsteps: []\n", ["keys must be strings"]),
        ("name: x\ndescription: !!binary aGVsbG8=\nsteps: []\n", ["!!binary"]),
        ("name: x\ndescription: !!set {a, b}\nsteps: []\n", ["!!set"]),
        ("name: x\ndescription: !!python/name:os.system\nsteps: []\n", ["invalid YAML"]),
        ('name: x\ndescription: "\\ud800"\nsteps: []\n', ["surrogate"]),
        ("name: x\ndescription: .nan\nsteps: []\n", ["finite"]),
        ("name: x\ndescription: 1.0e+999\nsteps: []\n", ["finite"]),
        ("name: x\n200: ok\nsteps: []\n", ["quote it"]),
    ],
)
async def test_yaml_outside_json_is_refused(api: httpx.AsyncClient, doc: str, words: list[str]) -> None:
    for path in ("/templates", "/templates/validate"):
        r = await api.post(path, content=doc, headers=auth("dana") | YAML)
        assert_error(r, 422, *words)
    await readers_still_fine(api)


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        ('"description": "\\ud800"', ["surrogate"]),
        ('"description": NaN', ["NaN"]),
        ('"description": Infinity', ["Infinity"]),
        ('"description": 1e400', ["finite"]),
    ],
)
async def test_json_outside_json_is_refused(api: httpx.AsyncClient, raw: str, words: list[str]) -> None:
    """A lone surrogate used to save and then make `GET /templates` a 500 for everyone, for
    good; PostgreSQL refused NaN with a 500."""
    name = unique("bad")
    body = '{"name": "%s", %s, "steps": [{"id": "a", "action": "log", "with": {"message": "x"}}]}'
    r = await api.post("/templates", content=body % (name, raw), headers=auth("dana") | JSON)
    assert_error(r, 422, *words)
    await readers_still_fine(api)
    assert (await api.get(f"/templates/{name}", headers=auth("eve"))).status_code == 404


async def test_template_nested_300_deep_refused_at_parse(api: httpx.AsyncClient) -> None:
    doc = simple_template(unique("deep"))
    doc["steps"][0]["with"]["message"] = deep(300, "x")
    r = await api.post("/templates", content=json.dumps(doc), headers=auth("dana") | JSON)
    assert_error(r, 422, "nested too deeply")
    yaml_doc = f"name: {unique('deep')}\nsteps: " + "[" * 300 + "]" * 300 + "\n"
    r = await api.post("/templates", content=yaml_doc, headers=auth("dana") | YAML)
    assert_error(r, 422, "nested too deeply")
    await readers_still_fine(api)


@pytest.fixture(scope="module")
async def saved(api: httpx.AsyncClient, worker: Worker) -> str:
    name = unique("input")
    await save(api, simple_template(name))
    return name


@pytest.mark.parametrize("levels", [33, 250, 300, 3000])
async def test_run_input_nested_deep_refused(api: httpx.AsyncClient, saved: str, levels: int) -> None:
    """Input nested 200-250 deep started a run no worker could decode (stuck for good);
    >= 256 was a 500."""
    body = f'{{"template": "{saved}", "input": {deep_text(levels)}}}'
    r = await api.post("/runs", content=body, headers=auth("eve") | JSON)
    assert_error(r, 422, "nested too deeply")


async def test_run_input_at_the_depth_limit_runs(api: httpx.AsyncClient, saved: str) -> None:
    r = await api.post("/runs", json={"template": saved, "input": deep(31)}, headers=auth("eve"))
    assert r.status_code == 201, r.text


@pytest.mark.parametrize(
    "raw", ['{"x": NaN}', '{"x": -Infinity}', '{"x": 1e999}', '{"x": "\\udc00"}', '{"\\ud800": 1}']
)
async def test_run_input_outside_json_refused(api: httpx.AsyncClient, saved: str, raw: str) -> None:
    body = f'{{"template": "{saved}", "input": {raw}}}'
    assert_error(await api.post("/runs", content=body, headers=auth("eve") | JSON), 422)


async def test_run_input_too_large_names_the_limit(api: httpx.AsyncClient, saved: str) -> None:
    body = {"template": saved, "input": {"blob": "x" * 300_000}}
    r = await api.post("/runs", json=body, headers=auth("eve"))
    assert_error(r, 422, "RUN_INPUT_MAX_BYTES")


async def test_hook_body_outside_json_refused(api: httpx.AsyncClient) -> None:
    from tests.api.test_schedules_triggers import signed

    for raw in (b'{"x": NaN}', b'{"x": "\\ud800"}', deep_text(100).encode()):
        r = await api.post("/hooks/github", content=raw, headers=signed(raw))
        assert_error(r, 422)


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_database_errors_are_not_500(app: FastAPI, api: httpx.AsyncClient) -> None:
    """A value the database refuses is a 422, never a traceback (PostgreSQL refused NaN).
    PostgreSQL only: SQLite converts any value, so there is nothing for it to refuse."""
    path = f"/__test_db_error_{unique('x')}"

    async def refused(session: SessionDep) -> None:
        await session.exec(text("SELECT CAST('not a number' AS INTEGER) + 1"))  # type: ignore[call-overload]

    app.add_api_route(path, refused, methods=["GET"])
    try:
        r = await api.get(path)
    finally:
        app.router.routes = [r for r in app.router.routes if getattr(r, "path", None) != path]
    assert_error(r, 422, "database refused")
