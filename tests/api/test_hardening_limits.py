"""Issue 20, limits at the door: size caps of templates, RE2 patterns, the action registry."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import httpx
from temporalio.worker import Worker

from tests.api.conftest import auth, save, simple_template, unique

ROOT = Path(__file__).resolve().parents[2]
EMAIL = r"^([a-zA-Z0-9])(([\-.]|[_]+)?([a-zA-Z0-9]+))*(@){1}[a-z0-9]+[.]{1}(([a-z]{2,3})|([a-z]{2,3}[.]{1}[a-z]{2,3}))$"


def chain(n: int) -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = []
    for i in range(n):
        step: dict[str, Any] = {"id": f"s{i}", "set": {"i": i}}
        if i:
            step["depends_on"] = [f"s{i - 1}"]
        steps.append(step)
    return steps


async def test_step_cap(api: httpx.AsyncClient) -> None:
    """3,000 chained steps saved fine and then every run deadlocked."""
    for steps in (chain(3000), [{"id": f"p{i}", "set": {"i": i}} for i in range(6000)]):
        r = await api.post("/templates", json={"name": unique("big"), "steps": steps}, headers=auth("dana"))
        assert r.status_code == 422, r.text
        assert "TEMPLATE_MAX_STEPS" in r.json()["detail"] and "300" in r.json()["detail"]
    nested = {"id": "each", "foreach": {"items": "${{ [1] }}", "steps": chain(301)}}
    r = await api.post("/templates", json={"name": unique("big"), "steps": [nested]}, headers=auth("dana"))
    assert r.status_code == 422 and "TEMPLATE_MAX_STEPS" in r.json()["detail"]
    r = await api.post("/templates", json={"name": unique("ok"), "steps": chain(300)}, headers=auth("dana"))
    assert r.status_code == 201, r.text


async def test_edge_cap(api: httpx.AsyncClient) -> None:
    """All-pairs depends_on over 200+ steps: tens of thousands of edges, every run stuck."""
    steps = chain(200)
    for i, step in enumerate(steps):
        step["depends_on"] = [f"s{j}" for j in range(i)]
    r = await api.post("/templates/validate", json={"name": unique("pairs"), "steps": steps}, headers=auth("dana"))
    assert r.status_code == 422, r.text
    assert "TEMPLATE_MAX_EDGES" in r.json()["detail"] and "19900" in r.json()["detail"]


async def test_pattern_runs_on_re2(api: httpx.AsyncClient, worker: Worker) -> None:
    """A common e-mail pattern took 9 s on 28 characters with Python's `re` (doubling per
    character) and froze the event loop; 60 characters would take days. RE2 is linear."""
    name = unique("email")
    schema = {"type": "object", "properties": {"email": {"type": "string", "pattern": EMAIL}}}
    await save(api, simple_template(name, input_schema=schema))
    evil = "a" * 60 + "!"
    r = await api.post("/runs", json={"template": name, "input": {"email": evil}}, headers=auth("eve"))
    assert r.status_code == 422, r.text
    assert "does not match" in r.json()["detail"]
    good = {"email": "someone@example.com"}
    assert (await api.post("/runs", json={"template": name, "input": good}, headers=auth("eve"))).status_code == 201


async def test_patterns_re2_cannot_run_are_refused_at_save(api: httpx.AsyncClient) -> None:
    schema = {"type": "object", "properties": {"p": {"type": "string", "pattern": "^(?=.*[A-Z]).+$"}}}
    r = await api.post("/templates", json=simple_template(unique("look"), input_schema=schema), headers=auth("dana"))
    assert r.status_code == 422, r.text
    assert "RE2" in r.json()["detail"]


def test_concurrent_saves_on_a_fresh_process(tmp_path: Path, directory_file: Path) -> None:
    """The registry marked itself loaded before its imports finished: on a fresh API,
    19 of 20 concurrent saves got `unknown action 'log' (registered: none)`."""
    script = textwrap.dedent(
        f"""
        import asyncio, sys
        import httpx
        sys.path.insert(0, {str(ROOT)!r})
        from api.main import create_app
        from settings import Settings

        async def main():
            s = Settings(database_url="sqlite:///{tmp_path / 'race.db'}",
                         directory_file={str(directory_file)!r}, temporal_address="127.0.0.1:1")
            app = create_app(s)
            async with app.router.lifespan_context(app):
                transport = httpx.ASGITransport(app=app)
                async with httpx.AsyncClient(transport=transport, base_url="http://t") as api:
                    docs = [{{"name": f"race-{{i}}", "steps": [{{"id": "a", "action": "log",
                             "with": {{"message": "hi"}}}}]}} for i in range(20)]
                    auth = {{"Authorization": "Bearer tok-dana-0123456789"}}
                    rs = await asyncio.gather(*(api.post("/templates", json=d, headers=auth) for d in docs))
                    for r in rs:
                        print(r.status_code, r.text)

        asyncio.run(main())
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 20
    assert all(line.startswith("201 ") for line in lines), out.stdout
