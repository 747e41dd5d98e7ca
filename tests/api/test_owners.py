"""Template owners (SPEC §8): only owners and admins publish new versions; admins set owners;
the built-in templates loaded by `make run` are admin-only. SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import yaml
from fastapi import FastAPI

from api.load_templates import load
from tests.api.conftest import auth, simple_template, unique

ROOT = Path(__file__).resolve().parents[2]


async def owners_of(api: httpx.AsyncClient, name: str) -> list[str]:
    r = await api.get(f"/templates/{name}", headers=auth("eve"))
    assert r.status_code == 200, r.text
    owners: list[str] = r.json()["owners"]
    return owners


async def test_builtin_template_is_admin_only_until_owners_are_set(
    app: FastAPI, api: httpx.AsyncClient, tmp_path: Path
) -> None:
    """The purchase-order template as `make run` loads it: no owners, so a designer's new
    version is refused (403 naming why) until an admin makes them an owner."""
    doc = yaml.safe_load((ROOT / "templates" / "purchase-order.yaml").read_text())
    name = doc["name"] = unique("purchase-order")
    (tmp_path / "po.yaml").write_text(yaml.safe_dump(doc))
    engine = app.state.sessionmaker.kw["bind"]
    assert (await load(engine, [tmp_path / "po.yaml"])) == {
        str(tmp_path / "po.yaml"): f"saved {name}@1"
    }
    assert await owners_of(api, name) == []

    edited = doc | {"description": "now with a bigger budget"}
    r = await api.post("/templates", json=edited, headers=auth("dana"))
    assert r.status_code == 403, r.text
    body = r.json()
    assert body["error"] == "forbidden"
    assert "'dana'" in body["detail"] and name in body["detail"]
    assert "no owners (admins only)" in body["detail"]
    assert [v["version"] for v in (await api.get(f"/templates/{name}/versions", headers=auth("eve"))).json()] == [1]

    # only an admin sets owners
    r = await api.put(f"/templates/{name}/owners", json={"users": ["dana"]}, headers=auth("dana"))
    assert r.status_code == 403 and r.json()["error"] == "forbidden"
    r = await api.put(f"/templates/{name}/owners", json={"users": ["dana"]}, headers=auth("admin"))
    assert r.status_code == 200 and r.json() == {"name": name, "owners": ["dana"]}
    assert await owners_of(api, name) == ["dana"]

    r = await api.post("/templates", json=edited, headers=auth("dana"))
    assert r.status_code == 201 and r.json() == {"name": name, "version": 2}
    r = await api.post("/templates", json=edited, headers=auth("dirk"))
    assert r.status_code == 403 and "its owners (dana)" in r.json()["detail"]


async def test_first_saver_owns_and_admin_replaces_owners(api: httpx.AsyncClient) -> None:
    name = unique("owned")
    r = await api.post("/templates", json=simple_template(name), headers=auth("dana"))
    assert r.status_code == 201
    assert await owners_of(api, name) == ["dana"]
    assert (await api.post("/templates", json=simple_template(name), headers=auth("dana"))).status_code == 201
    r = await api.post("/templates", json=simple_template(name), headers=auth("dirk"))
    assert r.status_code == 403 and "its owners (dana)" in r.json()["detail"]
    # admins always publish, and do not become owners by doing so
    assert (await api.post("/templates", json=simple_template(name), headers=auth("admin"))).status_code == 201
    assert await owners_of(api, name) == ["dana"]
    # a version query shows the same owners (owners belong to the name, not a version)
    r = await api.get(f"/templates/{name}", params={"version": 1}, headers=auth("eve"))
    assert r.json()["owners"] == ["dana"]

    # PUT replaces the list (duplicates collapse)
    r = await api.put(
        f"/templates/{name}/owners", json={"users": ["dirk", "dirk", "alice"]}, headers=auth("admin")
    )
    assert r.status_code == 200 and r.json()["owners"] == ["alice", "dirk"]
    assert (await api.post("/templates", json=simple_template(name), headers=auth("dirk"))).status_code == 201
    r = await api.post("/templates", json=simple_template(name), headers=auth("dana"))
    assert r.status_code == 403, r.text
    # an owner still needs a designer role to save (alice is a manager)
    r = await api.post("/templates", json=simple_template(name), headers=auth("alice"))
    assert r.status_code == 403 and "designer" in r.json()["detail"]
    # [] leaves the template to admins
    r = await api.put(f"/templates/{name}/owners", json={"users": []}, headers=auth("admin"))
    assert r.status_code == 200 and r.json()["owners"] == []
    assert (await api.post("/templates", json=simple_template(name), headers=auth("dirk"))).status_code == 403


async def test_set_owners_errors(api: httpx.AsyncClient) -> None:
    name = unique("owned-err")
    assert (await api.post("/templates", json=simple_template(name), headers=auth("dana"))).status_code == 201
    r = await api.put(f"/templates/{unique('nope')}/owners", json={"users": ["dana"]}, headers=auth("admin"))
    assert r.status_code == 404 and r.json()["error"] == "not_found"
    r = await api.put(f"/templates/{name}/owners", json={"users": ["dana", "zed"]}, headers=auth("admin"))
    assert r.status_code == 422, r.text
    assert "zed" in r.json()["detail"] and r.json()["errors"][0]["loc"] == "body.users"
    for bad in ({}, {"users": "dana"}, {"users": [""]}, {"users": ["dana"], "extra": 1}):
        r = await api.put(f"/templates/{name}/owners", json=bad, headers=auth("admin"))
        assert r.status_code == 422, (bad, r.text)
    assert (await api.put(f"/templates/{name}/owners", json={"users": []})).status_code == 401
    assert await owners_of(api, name) == ["dana"]


async def test_concurrent_first_saves_make_one_owner(api: httpx.AsyncClient) -> None:
    """Two designers saving a new name at once: one gets version 1 and owns it; the other's
    save is checked against that owner (403), never a silent version 2."""
    name = unique("race")
    results = await asyncio.gather(
        *(
            api.post("/templates", json=simple_template(name), headers=auth(u))
            for u in ("dana", "dirk")
        )
    )
    codes = sorted(r.status_code for r in results)
    assert codes == [201, 403], [r.text for r in results]
    winner = next(u for u, r in zip(("dana", "dirk"), results, strict=True) if r.status_code == 201)
    assert await owners_of(api, name) == [winner]
    versions = (await api.get(f"/templates/{name}/versions", headers=auth("eve"))).json()
    assert [v["version"] for v in versions] == [1]
