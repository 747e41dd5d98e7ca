"""Requests that are too big in some way: a clear 422, never a 503 or a stuck event loop."""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx
import pytest

import workflows.language.loader
import workflows.language.validate
from api import schemas
from api.schemas import TAG_KEY_MAX, TAG_VALUE_MAX
from api.services import registry, starting
from tests.api.conftest import auth, save, simple_template, unique
from tests.workflows.test_loader_limits import laughs


async def start(api: httpx.AsyncClient, **body: Any) -> httpx.Response:
    return await api.post("/runs", json=body, headers=auth("eve"))


@pytest.mark.parametrize(
    ("tags", "loc"),
    [
        ({"k": "v" * (TAG_VALUE_MAX + 1)}, "body.tags.k"),
        ({"k" * (TAG_KEY_MAX + 1): "v"}, "body.tags"),
        ({f"key{i}": "v" * 200 for i in range(10)}, "body.tags"),  # each fine, too long together
    ],
)
async def test_oversized_tags_are_422(
    api: httpx.AsyncClient, tags: dict[str, str], loc: str
) -> None:
    name = unique("tags")
    await save(api, simple_template(name))
    r = await start(api, template=name, tags=tags)
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["error"] == "invalid_request"
    assert any(e["loc"].startswith(loc) for e in body["errors"]), body


async def test_temporal_invalid_argument_is_422(
    api: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Should a request get past our limits, Temporal's own refusal is the client's 422."""
    monkeypatch.setattr(schemas, "TAGS_MAX_BYTES", 10**6)
    monkeypatch.setattr(starting, "TAGS_MAX_BYTES", 10**6)
    name = unique("bigtags")
    await save(api, simple_template(name))
    tags = {f"key{i}": "v" * TAG_VALUE_MAX for i in range(20)}
    r = await start(api, template=name, tags=tags)
    assert r.status_code == 422, r.text
    assert r.json()["error"] == "invalid" and "Temporal rejected the run" in r.json()["detail"]


async def test_billion_laughs_is_a_quick_422(api: httpx.AsyncClient) -> None:
    headers = auth("dana") | {"content-type": "application/yaml"}
    began = time.monotonic()
    r = await api.post("/templates", content=laughs().encode(), headers=headers)
    assert time.monotonic() - began < 2
    assert r.status_code == 422, r.text
    body = r.json()
    assert "aliases expand to too many values" in body["detail"] and "line" in body["detail"]
    assert body["errors"][0]["loc"] == "body"


async def test_parsing_and_validation_run_off_the_event_loop(
    api: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads: list[str] = []
    for module, attr in (
        (workflows.language.loader, "load_document"),
        (workflows.language.validate, "validate_template"),
    ):
        real = getattr(module, attr)

        def spy(*args: Any, _real: Any = real, **kwargs: Any) -> Any:
            threads.append(threading.current_thread().name)
            return _real(*args, **kwargs)

        monkeypatch.setattr(module, attr, spy)
    monkeypatch.setattr(registry, "load_document", workflows.language.loader.load_document)
    monkeypatch.setattr(
        registry, "validate_template", workflows.language.validate.validate_template
    )
    r = await api.post(
        "/templates/validate", json=simple_template(unique("thread")), headers=auth("dana")
    )
    assert r.status_code == 200, r.text
    assert len(threads) == 2 and threading.main_thread().name not in threads
