"""Directory tokens (SPEC §8): `sha256:` entries, refusing sample/short/duplicate/empty tokens
at startup, and keeping the last good directory when a reload finds a bad file."""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from temporalio.client import Client

from activities.directory import Directory
from api.main import create_app
from api.tokens import DirectoryError, hash_entry, problems
from settings import Settings

ROOT = Path(__file__).resolve().parents[2]
GOOD = "tok-good-0123456789"
OTHER = "tok-other-0123456789"


def sha(token: str) -> str:
    return "sha256:" + hashlib.sha256(token.encode()).hexdigest()


def directory(*users: tuple[str, str | None]) -> dict[str, Any]:
    return {"users": [{"id": u, "roles": ["admin"], "token": t} for u, t in users]}


def write(path: Path, doc: dict[str, Any] | str) -> Path:
    path.write_text(doc if isinstance(doc, str) else yaml.safe_dump(doc))
    return path


@pytest.fixture
def make_settings(tmp_path: Path, client: Client) -> Callable[..., Settings]:
    def make(directory_file: Path, **extra: Any) -> Settings:
        return Settings(
            database_url=f"sqlite:///{tmp_path / 'tokens.db'}",
            directory_file=str(directory_file),
            temporal_address=client.service_client.config.target_host,
            temporal_namespace=client.namespace,
            **extra,
        )

    return make


@asynccontextmanager
async def running(settings: Settings, client: Client) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, temporal_client=client)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            yield c


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# -- the checks themselves ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("users", "allow", "expected"),
    [
        ([("a", GOOD), ("b", sha(OTHER))], False, []),
        ([("a", GOOD), ("b", None)], False, []),  # no token: an assignee, cannot sign in
        ([("a", None)], False, ["no user has a token"]),
        ([("a", "change-me-a-but-long-enough")], False, ["'a' has a sample token"]),
        ([("a", "tiny-tok")], False, ["'a' has a token shorter than 16"]),
        ([("a", "change-me-a"), ("b", "tiny-tok")], True, []),
        ([("a", GOOD), ("b", GOOD)], True, ["users 'a' and 'b' have the same token"]),
        ([("a", GOOD), ("b", sha(GOOD))], True, ["users 'a' and 'b' have the same token"]),
        ([("a", sha(GOOD)), ("b", sha(GOOD).upper().replace("SHA256:", "sha256:"))], False,
         ["users 'a' and 'b' have the same token"]),
        ([("a", GOOD), ("b", "")], True, ["'b' has an empty token"]),
        ([("a", GOOD), ("b", "   ")], True, ["'b' has an empty token"]),
        ([("a", GOOD), ("b", "sha256:abc")], True, ["'b' has a malformed hashed token"]),
    ],
)
def test_problems(users: list[tuple[str, str | None]], allow: bool, expected: list[str]) -> None:
    found = problems(Directory.model_validate(directory(*users)), allow_sample=allow)
    assert len(found) == len(expected), found
    for text, want in zip(found, expected, strict=True):
        assert want in text
        for _, token in users:  # a message names users, never a token
            if token and len(token.strip()) > 3:
                assert token not in text


def test_hash_entry_matches_sha256sum() -> None:
    done = subprocess.run(["sha256sum"], input=GOOD.encode(), capture_output=True, check=True)
    assert hash_entry(GOOD) == "sha256:" + done.stdout.split()[0].decode()


# -- at startup -----------------------------------------------------------------------------


async def test_sha256_tokens_sign_in(
    tmp_path: Path, make_settings: Callable[..., Settings], client: Client
) -> None:
    path = write(tmp_path / "d.yaml", directory(("hashed", sha(GOOD)), ("plain", OTHER)))
    async with running(make_settings(path), client) as api:
        assert (await api.get("/templates", headers=bearer(GOOD))).status_code == 200
        assert (await api.get("/templates", headers=bearer(OTHER))).status_code == 200
        # the stored hash is not a token: presenting it signs nobody in
        for wrong in (sha(GOOD), sha(GOOD)[7:], GOOD + "x", "tok"):
            r = await api.get("/templates", headers=bearer(wrong))
            assert r.status_code == 401 and r.json()["error"] == "unauthorized", wrong


@pytest.mark.parametrize(
    ("users", "message"),
    [
        ([("alice", "change-me-alice")], "user 'alice' has a sample token"),
        ([("bob", "tooshort")], "user 'bob' has a token shorter than 16 characters"),
    ],
)
async def test_sample_and_short_tokens_refuse_startup_unless_allowed(
    tmp_path: Path,
    make_settings: Callable[..., Settings],
    client: Client,
    users: list[tuple[str, str]],
    message: str,
) -> None:
    path = write(tmp_path / "d.yaml", directory(*users))
    with pytest.raises(DirectoryError) as err:
        async with running(make_settings(path), client):
            pass
    assert message in str(err.value) and "ALLOW_SAMPLE_TOKENS=true" in str(err.value)
    async with running(make_settings(path, allow_sample_tokens=True), client) as api:
        r = await api.get("/templates", headers=bearer(users[0][1]))
        assert r.status_code == 200


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (directory(("a", GOOD), ("b", GOOD)), "users 'a' and 'b' have the same token"),
        (directory(("a", GOOD), ("b", sha(GOOD))), "users 'a' and 'b' have the same token"),
        (directory(("a", GOOD), ("b", "")), "user 'b' has an empty token"),
        ("", "no user has a token"),
        ("users: [{id: a, token: tok-good-0123", "invalid YAML"),
        ("users: 3", "not a directory document: users"),
        ({"users": [{"id": "a", "tokn": GOOD}]}, "not a directory document"),
    ],
)
async def test_bad_directory_refuses_startup_even_with_sample_tokens_allowed(
    tmp_path: Path,
    make_settings: Callable[..., Settings],
    client: Client,
    content: dict[str, Any] | str,
    message: str,
) -> None:
    path = write(tmp_path / "d.yaml", content)
    with pytest.raises(DirectoryError) as err:
        async with running(make_settings(path, allow_sample_tokens=True), client):
            pass
    assert message in str(err.value) and str(path) in str(err.value)
    assert GOOD not in str(err.value)


async def test_missing_directory_file_refuses_startup(
    tmp_path: Path, make_settings: Callable[..., Settings], client: Client
) -> None:
    with pytest.raises(DirectoryError, match="no such file"):
        async with running(make_settings(tmp_path / "nowhere.yaml"), client):
            pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def test_api_process_refuses_the_sample_directory(tmp_path: Path, client: Client) -> None:
    """The real server with deploy/directory.yaml (what `make run` uses): it exits with a
    clear message, and serves once ALLOW_SAMPLE_TOKENS=true (which `make run` sets)."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "ALLOW_SAMPLE_TOKENS"}
    env.update(
        DIRECTORY_FILE=str(ROOT / "deploy" / "directory.yaml"),
        DATABASE_URL=f"sqlite:///{tmp_path / 'api.db'}",
        TEMPORAL_ADDRESS=client.service_client.config.target_host,
        TEMPORAL_NAMESPACE=client.namespace,
    )
    cmd = [sys.executable, "-m", "uvicorn", "api.main:create_app", "--factory",
           "--host", "127.0.0.1", "--port", str(port)]
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "cannot start: DIRECTORY_FILE" in done.stderr
    assert "user 'alice' has a sample token" in done.stderr
    assert "ALLOW_SAMPLE_TOKENS=true" in done.stderr

    proc = subprocess.Popen(
        cmd, cwd=ROOT, env=env | {"ALLOW_SAMPLE_TOKENS": "true"},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, "the API exited with ALLOW_SAMPLE_TOKENS=true"
            try:
                r = httpx.get(
                    f"http://127.0.0.1:{port}/templates",
                    headers=bearer("change-me-alice"), timeout=2,
                )
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the API did not answer"
                time.sleep(0.3)
        assert r.status_code == 200, r.text
    finally:
        proc.terminate()
        proc.wait(timeout=30)


# -- on reload ------------------------------------------------------------------------------


async def test_bad_reload_keeps_the_last_good_directory(
    tmp_path: Path,
    make_settings: Callable[..., Settings],
    client: Client,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # flow style, like deploy/directory.yaml
    good_text = f"users:\n  - {{id: a, roles: [admin], token: {GOOD}}}\n"
    path = write(tmp_path / "d.yaml", good_text)
    async with running(make_settings(path), client) as api:
        assert (await api.get("/templates", headers=bearer(GOOD))).status_code == 200
        bad_versions = {
            "truncated": good_text[: good_text.index(GOOD) + 5],
            "truncated to nothing": "",
            "truncated after users": "users:\n",
            "duplicate": yaml.safe_dump(directory(("a", GOOD), ("b", GOOD))),
            "sample": yaml.safe_dump(directory(("a", GOOD), ("b", "change-me-b"))),
            "empty token": yaml.safe_dump(directory(("a", GOOD), ("b", ""))),
            "not a mapping": "- just\n- a list\n",
        }
        for label, text in bad_versions.items():
            caplog.clear()
            with caplog.at_level(logging.ERROR, logger="relayflow.api.directory"):
                path.write_text(text)
                for _ in range(3):  # every request: the last good directory, logged once
                    r = await api.get("/templates", headers=bearer(GOOD))
                    assert r.status_code == 200, (label, r.text)
            errors = [rec for rec in caplog.records if rec.levelno >= logging.ERROR]
            assert len(errors) == 1, (label, [e.getMessage() for e in errors])
            assert "still serving the last good directory" in errors[0].getMessage()
            assert str(path) in errors[0].getMessage()
        path.unlink()
        assert (await api.get("/templates", headers=bearer(GOOD))).status_code == 200
        # a good file again: picked up at once
        write(path, directory(("b", sha(OTHER))))
        assert (await api.get("/templates", headers=bearer(OTHER))).status_code == 200
        assert (await api.get("/templates", headers=bearer(GOOD))).status_code == 401
