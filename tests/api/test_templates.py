"""The template registry: save (JSON/YAML), validate, read, versions, graph, concurrency."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import yaml

from settings import Settings
from tests.api.conftest import auth, save, simple_template, unique


async def test_save_json_and_yaml_versions(api: httpx.AsyncClient) -> None:
    name = unique("tpl")
    assert await save(api, simple_template(name)) == {"name": name, "version": 1}
    text = yaml.safe_dump(simple_template(name, description="second"))
    r = await api.post(
        "/templates", content=text, headers=auth("admin") | {"content-type": "application/yaml"}
    )
    assert r.status_code == 201, r.text
    assert r.json() == {"name": name, "version": 2}

    latest = (await api.get(f"/templates/{name}", headers=auth("eve"))).json()
    assert latest["version"] == 2 and latest["body"]["description"] == "second"
    assert latest["created_by"] == "admin"
    first = (await api.get(f"/templates/{name}", params={"version": 1}, headers=auth("eve"))).json()
    assert first["version"] == 1 and first["created_by"] == "dana"

    versions = (await api.get(f"/templates/{name}/versions", headers=auth("eve"))).json()
    assert [v["version"] for v in versions] == [1, 2]
    listing = (await api.get("/templates", headers=auth("eve"))).json()
    mine = [t for t in listing if t["name"] == name]
    assert len(mine) == 1 and mine[0]["version"] == 2


async def test_404s(api: httpx.AsyncClient) -> None:
    name = unique("missing")
    for path in (f"/templates/{name}", f"/templates/{name}/versions", f"/templates/{name}/graph"):
        r = await api.get(path, headers=auth("eve"))
        assert r.status_code == 404 and r.json()["error"] == "not_found", path
    saved = await save(api, simple_template(unique("tpl")))
    r = await api.get(f"/templates/{saved['name']}", params={"version": 9}, headers=auth("eve"))
    assert r.status_code == 404


async def test_invalid_template_422_with_findings(api: httpx.AsyncClient) -> None:
    doc = {
        "name": unique("bad"),
        "steps": [
            {"id": "a", "action": "log", "with": {"message": "x"}, "bogus": 1},
            {"id": "b", "depends_on": ["nope"], "action": "log", "with": {"message": "y"}},
        ],
    }
    for path in ("/templates", "/templates/validate"):
        r = await api.post(path, json=doc, headers=auth("dana"))
        assert r.status_code == 422, r.text
        body = r.json()
        assert body["error"] == "invalid" and body["detail"]
        assert len(body["errors"]) >= 2
        assert all(set(e) == {"loc", "msg"} for e in body["errors"])
        assert any("steps[0]" in e["loc"] for e in body["errors"])


async def test_syntax_errors_and_media_types(api: httpx.AsyncClient) -> None:
    h = auth("dana")
    r = await api.post(
        "/templates", content=b"name: [x", headers=h | {"content-type": "application/yaml"}
    )
    assert r.status_code == 422 and r.json()["errors"][0]["loc"] == "body"
    r = await api.post(
        "/templates", content=b"[1, 2]", headers=h | {"content-type": "application/json"}
    )
    assert r.status_code == 422
    r = await api.post(
        "/templates", content=b"<xml/>", headers=h | {"content-type": "application/xml"}
    )
    assert r.status_code == 415 and r.json()["error"] == "unsupported_media_type"
    r = await api.post(
        "/templates", content=b"\xff\xfe", headers=h | {"content-type": "application/yaml"}
    )
    assert r.status_code == 422


async def test_validate_ok_does_not_save(api: httpx.AsyncClient) -> None:
    name = unique("val")
    r = await api.post("/templates/validate", json=simple_template(name), headers=auth("eve"))
    assert r.status_code == 200 and r.json() == {"valid": True, "findings": []}
    assert (await api.get(f"/templates/{name}", headers=auth("eve"))).status_code == 404


async def test_graph(api: httpx.AsyncClient) -> None:
    saved = await save(api, simple_template(unique("graph")))
    r = await api.get(f"/templates/{saved['name']}/graph", headers=auth("eve"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["version"] == 1 and "hello" in body["mermaid"]
    assert body["mermaid"].lstrip().startswith(("flowchart", "graph"))
    r = await api.get(
        f"/templates/{saved['name']}/graph", headers=auth("eve") | {"accept": "text/plain"}
    )
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    assert r.text == body["mermaid"]


async def test_subflow_resolves_against_registry(api: httpx.AsyncClient) -> None:
    child = unique("child")
    parent: dict[str, Any] = {
        "name": unique("parent"),
        "steps": [{"id": "sub", "subflow": {"template": child, "input": {"who": "x"}}}],
    }
    r = await api.post("/templates", json=parent, headers=auth("dana"))
    assert r.status_code == 422 and child in r.text
    await save(api, simple_template(child))
    assert (await api.post("/templates", json=parent, headers=auth("dana"))).status_code == 201
    parent["steps"][0]["subflow"]["version"] = 7
    assert (await api.post("/templates", json=parent, headers=auth("dana"))).status_code == 422


async def test_concurrent_saves_get_distinct_versions(
    api: httpx.AsyncClient, settings: Settings
) -> None:
    name = unique("race")
    n = 8 if settings.database_url.startswith("postgresql") else 4

    async def one(i: int) -> httpx.Response:
        return await api.post(
            "/templates", json=simple_template(name, description=f"v{i}"), headers=auth("dana")
        )

    responses = await asyncio.gather(*(one(i) for i in range(n)))
    assert [r.status_code for r in responses] == [201] * n, [r.text for r in responses]
    assert sorted(r.json()["version"] for r in responses) == list(range(1, n + 1))
