"""Pieces of the people's pages without Temporal: link tokens, form fields, sessions."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import yaml
from fastapi import FastAPI

from activities import decision_links as dl
from api.main import create_app
from api.ui import forms
from settings import Settings

NOW = datetime(2026, 12, 1, tzinfo=UTC)


def claims(expires: datetime) -> dl.LinkClaims:
    return dl.LinkClaims("po-1001", "review[0].sign_off", "mike", "approved", expires)


def test_link_round_trip_and_every_single_character_change_is_refused() -> None:
    token = dl.sign("s3cret", claims(NOW + timedelta(days=1)))
    assert dl.verify("s3cret", token, NOW) == claims(NOW + timedelta(days=1))
    alphabet = "ABCabc019-_."
    for i, ch in enumerate(token):
        for other in alphabet:
            if other == ch:
                continue
            with pytest.raises(dl.LinkTampered):
                dl.verify("s3cret", token[:i] + other + token[i + 1 :], NOW)
    with pytest.raises(dl.LinkTampered):
        dl.verify("another-secret", token, NOW)
    with pytest.raises(dl.LinkTampered):
        dl.verify("s3cret", token[:-1], NOW)


def test_link_expiry() -> None:
    token = dl.sign("k", claims(NOW))
    with pytest.raises(dl.LinkExpired) as e:
        dl.verify("k", token, NOW)
    assert e.value.claims.user == "mike"
    # the approval's due time, capped at 30 days
    assert dl.expiry(NOW + timedelta(days=2), NOW) == NOW + timedelta(days=2)
    assert dl.expiry(NOW + timedelta(days=90), NOW) == NOW + timedelta(days=30)
    assert dl.expiry(None, NOW) == NOW + timedelta(days=30)
    assert dl.url("https://relay.example/", "a.b") == "https://relay.example/d/a.b"


FORM = {
    "type": "object",
    "required": ["reason"],
    "properties": {
        "reason": {"type": "string", "title": "Why", "maxLength": 1000},
        "amount": {"type": "number"},
        "count": {"type": "integer"},
        "urgent": {"type": "boolean"},
        "level": {"enum": ["low", "high", 3]},
        "extra": {"type": "object"},
    },
}


def test_form_fields_from_json_schema() -> None:
    fs = {f.name: f for f in forms.fields(FORM, {"amount": 5, "reason": "x"})}
    assert [fs[n].widget for n in FORM["properties"]] == [  # type: ignore[attr-defined]
        "textarea", "number", "number", "checkbox", "select", "json"
    ]
    assert fs["reason"].required and fs["reason"].label == "Why" and fs["reason"].value == "x"
    assert fs["amount"].value == "5" and fs["count"].step == "1"
    assert fs["level"].choices == ["low", "high", "3"]
    assert forms.fields(None) == [] and forms.fields({"type": "string"}) == []


def test_form_parse_types_and_errors() -> None:
    posted = {
        "f.reason": "ok", "f.amount": "12.5", "f.count": "3", "f.level": "3",
        "f.extra": '{"a": 1}', "f.urgent": "true", "f.unknown": "ignored",
    }
    assert forms.parse(FORM, posted) == {
        "reason": "ok", "amount": 12.5, "count": 3, "level": 3, "extra": {"a": 1}, "urgent": True
    }
    assert forms.parse(FORM, {"f.amount": "7"}) == {"amount": 7, "urgent": False}
    with pytest.raises(forms.FormInputError) as e:
        forms.parse(FORM, {"f.amount": "abc", "f.count": "1.5", "f.level": "x", "f.extra": "{"})
    assert [name for name, _ in e.value.errors] == ["amount", "count", "level", "extra"]
    assert forms.parse(None, {"f.x": "1"}) is None


@pytest.fixture
async def https_app(tmp_path: Path) -> AsyncIterator[FastAPI]:
    directory = tmp_path / "directory.yaml"
    directory.write_text(
        yaml.safe_dump({"users": [{"id": "mike", "token": "tok-mike-0123456789"}]})
    )
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'r.db'}",
        directory_file=str(directory),
        api_public_url="https://relay.example",
        decision_link_secret="unit-secret-0123456789",
        temporal_address="127.0.0.1:1",  # never dialled by these pages
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        app.state.directory_path = directory
        yield app


async def test_session_cookie_flags_tampering_and_token_rotation(https_app: FastAPI) -> None:
    transport = httpx.ASGITransport(app=https_app)
    async with httpx.AsyncClient(transport=transport, base_url="https://relay.example") as c:
        r = await c.get("/ui/login")
        assert r.status_code == 200 and r.headers["x-frame-options"] == "DENY"
        csrf_cookie = r.headers["set-cookie"]
        assert "relayflow_csrf=" in csrf_cookie and "Secure" in csrf_cookie
        csrf = r.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
        r = await c.post("/ui/login", data={"token": "wrong-token-0123456", "csrf": csrf})
        assert r.status_code == 401 and "not valid" in r.text
        r = await c.get("/ui/login")
        csrf = r.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
        r = await c.post(
            "/ui/login", data={"token": "tok-mike-0123456789", "csrf": csrf, "next": "//evil.example"}
        )
        assert r.status_code == 303 and r.headers["location"] == "/ui"  # no open redirect
        cookie = next(v for k, v in r.headers.multi_items() if k == "set-cookie" and "relayflow_session=" in v)
        for flag in ("HttpOnly", "SameSite=strict", "Secure", "Path=/"):
            assert flag.lower() in cookie.lower(), (flag, cookie)
        session = c.cookies["relayflow_session"]
        # a tampered cookie is no session
        c.cookies.set("relayflow_session", session[:-2] + ("AA" if session[-2:] != "AA" else "BB"))
        r = await c.get("/ui", follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/ui/login")
        # a rotated token ends the session
        c.cookies.set("relayflow_session", session)
        path: Path = https_app.state.directory_path
        path.write_text(yaml.safe_dump({"users": [{"id": "mike", "token": "tok-mike-rotated-012"}]}))
        import os

        os.utime(path, (1, 1))  # a new mtime: the directory cache re-reads
        r = await c.get("/ui/tasks/po-1/approve", follow_redirects=False)
        assert r.status_code == 303 and "/ui/login" in r.headers["location"]
