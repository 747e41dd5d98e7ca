"""`relayflow status` / `resolve` / `redrive` against the real stack (SPEC §9), with a real
HTTP receiver behind a connection that an admin defines."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.cli.conftest import TOKENS, Cli, Stack
from tests.helpers.http_receiver import HttpReceiver, Reply


@pytest.fixture
def svc(stack: Stack) -> Iterator[tuple[HttpReceiver, str]]:
    """A receiver and the name of a connection pointing at it."""
    name = f"svc-{uuid.uuid4().hex[:8]}"
    with HttpReceiver(default=Reply(200, {"ok": True})) as rx:
        r = httpx.post(
            f"{stack.api}/connections", json={"name": name, "base_url": rx.url},
            headers={"Authorization": f"Bearer {TOKENS['alice']}"}, timeout=30,
        )
        assert r.status_code == 201, r.text
        yield rx, name


def _push(cli: Cli, tmp_path: Path, text: str) -> None:
    (tmp_path / "t.yaml").write_text(text)
    r = cli("templates", "push", str(tmp_path), user="dana")
    assert r.exit_code == 0, r.output


def test_held_step_shows_in_status_and_an_operator_resolves_it(
    cli: Cli, tmp_path: Path, svc: tuple[HttpReceiver, str]
) -> None:
    rx, conn = svc
    name = f"cli-held-{uuid.uuid4().hex[:6]}"
    rx.script("/charge", Reply(503, "busy"))
    _push(cli, tmp_path, f"""\
name: {name}
steps:
  - id: charge
    action: http
    on_failure: hold
    retry: {{max_attempts: 1}}
    with: {{method: POST, connection: {conn}, path: /charge, json: {{n: 1}}}}
  - id: ship
    depends_on: [charge]
    action: log
    with: {{message: "charged ${{{{ steps.charge.output.body.id }}}}"}}
""")
    run_id = f"held-{uuid.uuid4().hex[:8]}"
    assert cli("run", name, "--run-id", run_id).exit_code == 0
    r = cli("wait", run_id, "--until", "waiting", "--timeout", "60")
    assert r.exit_code == 0, r.output
    r = cli("status", run_id)
    assert "held steps" in r.stdout and "503" in r.stdout
    assert f"relayflow resolve {run_id} charge retry|skip|fail" in r.stdout.replace("\n", "")

    r = cli("resolve", run_id, "charge", "retry", "--with", '{"path": "/charge2"}')  # sam
    assert r.exit_code == 3 and "forbidden" in r.output
    rx.script("/charge2", Reply(200, {"id": "ch-9"}))
    r = cli("resolve", run_id, "charge", "retry", "--with", '{"path": "/charge2"}', "-m", "new path",
            user="olga")
    assert r.exit_code == 0, r.output
    assert f"retry recorded on {run_id} charge" in r.stdout
    r = cli("wait", run_id, "--timeout", "60")
    assert r.exit_code == 0, r.output
    doc = json.loads(cli("status", run_id, "--json").stdout)
    assert doc["state"] == "completed" and doc["steps"]["charge"]["incidents"][0]["actor"] == "olga"
    assert len(rx.at("/charge2")) == 1


def test_failed_run_names_its_step_and_redrive_completes_it(
    cli: Cli, tmp_path: Path, svc: tuple[HttpReceiver, str]
) -> None:
    rx, conn = svc
    name = f"cli-redrive-{uuid.uuid4().hex[:6]}"
    rx.script("/two", Reply(500, "down"))
    _push(cli, tmp_path, f"""\
name: {name}
steps:
  - id: one
    action: http
    with: {{method: POST, connection: {conn}, path: /one}}
  - id: two
    depends_on: [one]
    action: http
    retry: {{max_attempts: 1}}
    with: {{method: POST, connection: {conn}, path: /two}}
""")
    run_id = f"rd-{uuid.uuid4().hex[:8]}"
    r = cli("run", name, "--run-id", run_id, "--wait", "--timeout", "60")
    assert r.exit_code == 1
    r = cli("status", run_id)
    assert "error (step two)" in r.stdout and "step 'two' failed:" in r.stdout
    rx.script("/two", Reply(200, {"ok": True}))
    r = cli("redrive", run_id, "--wait", "--timeout", "60")
    assert r.exit_code == 0, r.output
    assert f"redriven {run_id} (redrive 1, version 1)" in r.stderr
    r = cli("status", run_id)
    assert "redrive 1" in r.stdout and "(carried)" in r.stdout
    assert (len(rx.at("/one")), len(rx.at("/two"))) == (1, 2)
    r = cli("redrive", run_id)
    assert r.exit_code == 3 and "completed" in r.output
