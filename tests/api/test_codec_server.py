"""The codec server on the API (`POST /codec/decode`, `/codec/encode`; SPEC §12).

Temporal's remote-codec JSON protocol, operator/admin only (bearer token, or the /ui session
cookie of a signed-in operator), CORS with credentials for the Web UI origin only.
"""

from __future__ import annotations

import base64
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from temporalio.api.common.v1 import Payload
from temporalio.client import Client

from api.codec_access import ui_origins
from api.main import create_app
from payload_codec import ENCODING, KEY_ID, data_converter, new_key
from settings import Settings
from tests.api.conftest import USERS, auth, token

UI = "http://ui.example:8233"
KEY1, KEY2 = new_key(), new_key()


def b64(b: bytes) -> str:
    return base64.b64encode(b).decode()


def plain(value: bytes = b'{"po": "PO-1", "amount": 9000}') -> dict[str, Any]:
    return {"metadata": {"encoding": b64(b"json/plain")}, "data": b64(value)}


def make_settings(tmp: Path, directory_file: Path, keys: str) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=f"sqlite:///{tmp / 'codec.db'}",
        directory_file=str(directory_file),
        temporal_ui_url=f"{UI}/namespaces/default",
        temporal_namespace="default",
        payload_keys=keys,
    )


async def serve(settings: Settings, client: Client) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    app = create_app(settings, temporal_client=client)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as http:
            yield app, http


@pytest.fixture(scope="module")
async def codec_api(
    tmp_path_factory: pytest.TempPathFactory, directory_file: Path, client: Client
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    settings = make_settings(tmp_path_factory.mktemp("codec"), directory_file, f"k2:{KEY2},k1:{KEY1}")
    async for pair in serve(settings, client):
        yield pair


@pytest.fixture
def api(codec_api: tuple[FastAPI, httpx.AsyncClient]) -> httpx.AsyncClient:
    return codec_api[1]


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong-token"}, {"Authorization": "Basic eDp5"}])
async def test_no_valid_credentials_is_401(api: httpx.AsyncClient, headers: dict[str, str]) -> None:
    for path in ("/codec/decode", "/codec/encode"):
        r = await api.post(path, json={"payloads": [plain()]}, headers=headers)
        assert r.status_code == 401, r.text
        assert r.json()["error"] == "unauthorized"


@pytest.mark.parametrize("user", ["alice", "dana", "eve"])
async def test_roles_other_than_operator_or_admin_are_403(api: httpx.AsyncClient, user: str) -> None:
    assert not {"operator", "admin"} & set(USERS[user])
    r = await api.post("/codec/decode", json={"payloads": [plain()]}, headers=auth(user))
    assert r.status_code == 403 and "operator" in r.json()["detail"]


@pytest.mark.parametrize("user", ["olga", "admin"])
async def test_encode_decode_round_trip(api: httpx.AsyncClient, user: str) -> None:
    body = {"payloads": [plain(), plain(b'"second"'), {"metadata": {}, "data": ""}]}
    sealed = await api.post("/codec/encode", json=body, headers=auth(user) | {"X-Namespace": "default"})
    assert sealed.status_code == 200, sealed.text
    out = sealed.json()["payloads"]
    assert len(out) == 3
    for p in out:
        assert base64.b64decode(p["metadata"]["encoding"]) == ENCODING
        assert base64.b64decode(p["metadata"][KEY_ID]) == b"k2"  # the first key encrypts
        assert b"PO-1" not in base64.b64decode(p["data"])
    opened = await api.post("/codec/decode", json=sealed.json(), headers=auth(user))
    assert opened.status_code == 200, opened.text
    assert opened.json() == {"payloads": [plain(), plain(b'"second"'), {"metadata": {}, "data": ""}]}


async def test_decodes_what_workers_encrypted_under_an_older_key(api: httpx.AsyncClient) -> None:
    """A payload as it sits in history, written by a worker while k1 was current."""
    old = data_converter(Settings(_env_file=None, payload_keys=f"k1:{KEY1}"))  # type: ignore[call-arg]
    [sealed] = await old.encode([{"requester": "Zoe"}])
    wire = {"metadata": {k: b64(v) for k, v in sealed.metadata.items()}, "data": b64(sealed.data)}
    r = await api.post("/codec/decode", json={"payloads": [wire]}, headers=auth("olga"))
    assert r.status_code == 200, r.text
    [p] = r.json()["payloads"]
    assert base64.b64decode(p["data"]) == b'{"requester":"Zoe"}'


async def test_unknown_key_bad_base64_and_other_namespaces_are_named(api: httpx.AsyncClient) -> None:
    stranger = {"metadata": {"encoding": b64(ENCODING), KEY_ID: b64(b"k0")}, "data": b64(os.urandom(40))}
    r = await api.post("/codec/decode", json={"payloads": [plain(), stranger]}, headers=auth("olga"))
    assert r.status_code == 422 and r.json()["detail"].startswith("payloads[1]: ")
    assert "'k0'" in r.json()["detail"]
    r = await api.post("/codec/decode", json={"payloads": [{"data": "%%%"}]}, headers=auth("olga"))
    assert r.status_code == 422 and r.json()["detail"] == "payloads[0].data is not valid base64"
    r = await api.post(
        "/codec/encode", json={"payloads": [plain()]}, headers=auth("olga") | {"X-Namespace": "payments"}
    )
    assert r.status_code == 400 and "'payments'" in r.json()["detail"]
    r = await api.post("/codec/decode", json={"payload": []}, headers=auth("olga"))
    assert r.status_code == 200 and r.json() == {"payloads": []}  # unknown fields ignored, like proto JSON


async def test_payloads_near_temporals_limit(api: httpx.AsyncClient) -> None:
    """1.5 MB payloads (2 MB of base64) pass the codec; the 1 MiB limit still holds elsewhere."""
    big = plain(os.urandom(1_500_000))
    sealed = await api.post("/codec/encode", json={"payloads": [big]}, headers=auth("olga"))
    assert sealed.status_code == 200, sealed.text
    opened = await api.post("/codec/decode", json=sealed.json(), headers=auth("olga"))
    assert opened.status_code == 200 and opened.json() == {"payloads": [big]}
    r = await api.post("/templates", content=b"x" * 1_500_000, headers=auth("dana") | {"Content-Type": "application/json"})
    assert r.status_code == 413


def test_ui_origins_include_the_loopback_twin() -> None:
    assert ui_origins("http://127.0.0.1:8233/namespaces/default") == ["http://127.0.0.1:8233", "http://localhost:8233"]
    assert ui_origins("https://temporal.example.com/") == ["https://temporal.example.com"]


def _preflight(origin: str) -> dict[str, str]:
    return {"Origin": origin, "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,x-namespace"}


async def test_cors_with_credentials_for_the_ui_origin_only(api: httpx.AsyncClient) -> None:
    r = await api.options("/codec/decode", headers=_preflight(UI))
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == UI
    assert r.headers["access-control-allow-credentials"] == "true"
    assert "x-namespace" in r.headers["access-control-allow-headers"].lower()
    other = await api.options("/codec/decode", headers=_preflight("http://evil.example"))
    assert other.status_code == 400 and "access-control-allow-origin" not in other.headers
    # the rest of the API has no CORS at all
    runs = await api.options("/runs", headers=_preflight(UI))
    assert "access-control-allow-origin" not in runs.headers
    # actual responses carry the headers too, errors included, so the UI can read a 401
    denied = await api.post("/codec/decode", json={"payloads": []}, headers={"Origin": UI})
    assert denied.status_code == 401
    assert denied.headers["access-control-allow-origin"] == UI
    assert denied.headers["access-control-allow-credentials"] == "true"


async def _signed_in(api: httpx.AsyncClient, user: str) -> str:
    """The `/ui` session cookie of `user`, from a real sign-in (login CSRF included)."""
    page = await api.get("/ui/login")
    csrf = page.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    r = await api.post("/ui/login", data={"token": token(user), "csrf": csrf})
    assert r.status_code == 303, r.text
    value = api.cookies["relayflow_session"]
    api.cookies.clear()
    return f"relayflow_session={value}"


async def test_the_ui_session_cookie_authenticates(
    codec_api: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    """An operator signed in at /ui (the Web UI sends that cookie) may decode; others not."""
    _, api = codec_api
    olga, alice = await _signed_in(api, "olga"), await _signed_in(api, "alice")
    body = {"payloads": [plain()]}
    ok = await api.post("/codec/encode", json=body, headers={"Origin": UI, "Cookie": olga})
    assert ok.status_code == 200, ok.text
    assert ok.headers["access-control-allow-credentials"] == "true"
    role = await api.post("/codec/encode", json=body, headers={"Cookie": alice})
    assert role.status_code == 403
    forged = olga[:-3] + ("AAA" if not olga.endswith("AAA") else "BBB")
    none = await api.post("/codec/encode", json=body, headers={"Cookie": forged})
    assert none.status_code == 401
    foreign = await api.post(
        "/codec/encode", json=body, headers={"Origin": "http://evil.example", "Cookie": olga}
    )
    assert foreign.status_code == 403
    # a bearer token, when sent, decides (a bad token is not rescued by a good cookie)
    bad = await api.post(
        "/codec/encode", json=body, headers={"Authorization": "Bearer nope", "Cookie": olga}
    )
    assert bad.status_code == 401


async def test_without_keys_the_codec_server_returns_payloads_unchanged(
    tmp_path: Path, directory_file: Path, client: Client
) -> None:
    async for _, api in serve(make_settings(tmp_path, directory_file, ""), client):
        body = {"payloads": [plain()]}
        for path in ("/codec/encode", "/codec/decode"):
            r = await api.post(path, json=body, headers=auth("olga"))
            assert r.status_code == 200 and r.json() == body


def test_payload_proto_shape_matches_the_sdk() -> None:
    """The wire form is proto3 JSON of temporal.api.common.v1.Payload (bytes as base64)."""
    from google.protobuf.json_format import MessageToDict

    p = Payload(metadata={"encoding": b"json/plain"}, data=b"1")
    assert MessageToDict(p) == {"metadata": {"encoding": b64(b"json/plain")}, "data": b64(b"1")}
