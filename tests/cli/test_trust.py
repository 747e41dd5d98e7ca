"""The trust boundary on a real `make run` stack: Temporal's UI and HTTP API are out of
reach of a designer's step, and `relayflow connections` manages connections (admin)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import httpx

from tests.cli.conftest import TOKENS, Cli, Stack
from tests.helpers.http_receiver import HttpReceiver, Reply


def _template(name: str, stack: Stack) -> str:
    http_api = stack.env["TEMPORAL_HTTP_ADDRESS"]
    return f"""\
name: {name}
steps:
  - id: list_all_runs
    action: http
    with: {{method: GET, url: "{stack.ui}/api/v1/namespaces/default/workflows"}}
  - id: terminate_someone
    action: http
    with:
      method: POST
      url: "http://{http_api}/api/v1/namespaces/default/workflows/po-1/terminate"
      json: {{reason: "designer was here"}}
  - id: call_the_api
    action: http
    with: {{method: GET, url: "{stack.api}/runs"}}
"""


def test_a_designer_step_cannot_reach_temporal_or_the_api(cli: Cli, stack: Stack, tmp_path: Path) -> None:
    name = f"reach-{uuid.uuid4().hex[:6]}"
    f = tmp_path / f"{name}.yaml"
    f.write_text(_template(name, stack))
    r = cli("templates", "push", str(f), user="dana")
    assert r.exit_code == 0, r.output
    run_id = f"reach-{uuid.uuid4().hex[:8]}"
    r = cli("run", name, "--run-id", run_id, "--wait", "--timeout", "60")
    assert r.exit_code == 1, r.output  # the run failed
    r = cli("status", run_id, "--json")
    doc = json.loads(r.stdout)
    errors = {k: v["error"] for k, v in doc["steps"].items() if v["error"]}
    assert errors, doc
    for step, error in errors.items():
        assert error.startswith("egress to 127.0.0.1:"), (step, error)
        assert "relayflow's own infrastructure" in error
    for step in errors:
        assert doc["steps"][step]["attempts"] == 1  # refused at once, not retried


def test_connections_commands(cli: Cli, stack: Stack, tmp_path: Path) -> None:
    with HttpReceiver() as rx:
        rx.script("/healthz", Reply(200, "ok"))
        name = f"cli-{uuid.uuid4().hex[:6]}"
        f = tmp_path / "conns.yaml"
        f.write_text(
            f"connections:\n"
            f"  - name: {name}\n    base_url: {rx.url}\n"
            f"    auth: {{type: bearer, secret: CLI_TOKEN}}\n"
            f"    health: {{path: /healthz, every: 1h}}\n"
        )
        r = cli("connections", "push", str(f), user="dana")
        assert r.exit_code == 3 and "(HTTP 403)" in r.stderr, r.output
        r = cli("connections", "push", str(f), user="alice")
        assert r.exit_code == 0 and f"{name} created" in r.stdout, r.output
        r = cli("connections", "push", str(f), user="alice")
        assert r.exit_code == 0 and f"{name} updated" in r.stdout, r.output

        r = cli("connections", "show", name, user="sam")
        assert r.exit_code == 0, r.output
        assert f"base_url  {rx.url}" in r.stdout and "bearer (secret CLI_TOKEN)" in r.stdout
        r = cli("connections", "check", name, user="olga")
        assert r.exit_code == 0 and f"{name}: ok" in r.stdout, r.output
        assert len(rx.at("/healthz")) >= 1
        r = cli("connections", "list", user="sam")
        assert r.exit_code == 0 and name in r.stdout and "ok" in r.stdout
        r = cli("connections", "check", name, user="sam")
        assert r.exit_code == 3 and "(HTTP 403)" in r.stderr
    r = cli("connections", "check", name, user="olga")  # the receiver is gone now
    assert r.exit_code == 1 and "failing" in r.stdout
    httpx.delete(
        f"{stack.api}/connections/{name}",
        headers={"Authorization": f"Bearer {TOKENS['alice']}"}, timeout=30,
    ).raise_for_status()
