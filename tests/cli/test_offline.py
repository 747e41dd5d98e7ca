"""Offline commands (validate, graph) and the CLI's error/exit-code contract without a server."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from cli.offline import loc_tokens, locate

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()

BAD = """\
name: bad
steps:
  - id: a
    action: log
    with: {message: hi}
  - id: b
    depends_on: [zzz]
    approval:
      assignees: {roles: [manager]}
      bogus: 1
  - id: c
    action: nope
"""


def test_builtin_templates_are_valid() -> None:
    files = sorted(str(p) for p in (ROOT / "templates").glob("*.yaml"))
    r = runner.invoke(app, ["validate", *files])
    assert r.exit_code == 0, r.output
    assert f"{len(files)} template(s) valid" in r.stderr


def test_findings_carry_file_line_and_loc(tmp_path: Path) -> None:
    f = tmp_path / "bad.yaml"
    f.write_text(BAD)
    r = runner.invoke(app, ["validate", str(f)])
    assert r.exit_code == 1
    lines = r.stdout.splitlines()
    assert any(x.startswith(f"{f}:10: steps[1].approval.bogus: ") for x in lines), lines
    assert any(x.startswith(f"{f}:7: steps[1].depends_on[0]: ") and "zzz" in x for x in lines), lines
    assert any(x.startswith(f"{f}:12: steps[2].action: ") and "nope" in x for x in lines), lines


def test_json_and_syntax_errors(tmp_path: Path) -> None:
    j = tmp_path / "t.json"
    j.write_text('{"name": "j",\n "steps": [\n  {"id": "a", "action": "log", "with": {"message": "x", "zz": 1}}\n ]}\n')
    y = tmp_path / "broken.yaml"
    y.write_text("name: x\nsteps:\n  - id: a\n    action: log\n  bad: [\n")
    r = runner.invoke(app, ["validate", str(j), str(y)])
    assert r.exit_code == 1
    assert f"{j}:3: steps[0].with.zz: " in r.stdout
    assert f"{y}:5: invalid YAML" in r.stdout


def test_locate_walks_yaml_nodes() -> None:
    assert loc_tokens("steps[3].approval.quorum") == ["steps", 3, "approval", "quorum"]
    assert loc_tokens("steps.0.with") == ["steps", 0, "with"]
    assert locate(BAD, "steps[1].approval.assignees") == 9
    assert locate(BAD, "steps[1].approval.quorum") == 8  # not written: its parent's line
    assert locate(BAD, "steps[c].action") == 12  # addressed by step id
    assert locate(BAD, "") == 1


def test_subflow_to_a_sibling_file_resolves_offline(tmp_path: Path) -> None:
    (tmp_path / "child.yaml").write_text("name: child\nsteps:\n  - {id: a, action: log, with: {message: x}}\n")
    parent = tmp_path / "parent.yaml"
    parent.write_text(
        "name: parent\nsteps:\n  - id: c\n    subflow: {template: child}\n"
        "  - id: d\n    subflow: {template: only-in-registry}\n"
    )
    r = runner.invoke(app, ["validate", str(parent)])
    assert r.exit_code == 0, r.output  # registry-side targets are left to the API


def test_graph_prints_mermaid() -> None:
    pytest.importorskip("workflows.language.graph")
    r = runner.invoke(app, ["graph", str(ROOT / "templates" / "purchase-order.yaml")])
    assert r.exit_code == 0, r.output
    assert r.stdout.lstrip().startswith(("flowchart", "graph"))
    for step in ("check_budget", "manager_approval", "place_order"):
        assert step in r.stdout


def test_graph_of_an_invalid_template_fails(tmp_path: Path) -> None:
    f = tmp_path / "bad.yaml"
    f.write_text(BAD)
    r = runner.invoke(app, ["graph", str(f)])
    assert r.exit_code == 1 and "steps[2].action" in r.stdout


def test_help_documents_exit_codes() -> None:
    r = runner.invoke(app, ["--help"])
    assert r.exit_code == 0
    text = " ".join(r.stdout.split())
    for piece in ("0 ok", "1 failure", "2 usage", "3 API or connection error", "RELAYFLOW_TOKEN"):
        assert piece in text


def test_unreachable_api_is_exit_3_with_a_hint() -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    r = runner.invoke(app, ["--api", f"http://127.0.0.1:{port}", "runs"])
    assert r.exit_code == 3
    assert f"API not reachable at http://127.0.0.1:{port}; is `make run` running?" in r.stderr


def test_usage_errors_are_exit_2() -> None:
    assert runner.invoke(app, ["run"]).exit_code == 2
    assert runner.invoke(app, ["run", "x", "--tag", "novalue"]).exit_code == 2
    r = runner.invoke(app, ["schedules", "create", "s1", "--template", "x"])
    assert r.exit_code == 2 and "--cron or --interval" in r.stderr
