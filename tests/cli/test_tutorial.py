"""docs/tutorial.md cannot rot: its `<!-- test -->` bash blocks run, in order, as one script
through the real `relayflow` command against a real stack (devstack on free ports) and the
real demo ERP; its Mermaid picture must be what `relayflow graph` prints.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from cli.main import app
from tests.cli.conftest import TOKENS, Stack, free_port

ROOT = Path(__file__).resolve().parents[2]
TUTORIAL = ROOT / "docs" / "tutorial.md"
BLOCK = re.compile(r"<!-- (test|graph: (?P<path>[^ ]+)) -->\n```(?:bash|mermaid)\n(?P<body>.*?)```", re.S)


def blocks(kind: str) -> list[re.Match[str]]:
    return [m for m in BLOCK.finditer(TUTORIAL.read_text()) if m.group(1).startswith(kind)]


def test_tutorial_graph_is_current() -> None:
    found = blocks("graph")
    assert found, "the tutorial lost its Mermaid picture"
    for m in found:
        r = CliRunner().invoke(app, ["graph", str(ROOT / m.group("path"))])
        assert r.exit_code == 0, r.output
        assert m.group("body").strip() == r.stdout.strip(), "re-paste `relayflow graph` output"


def test_tutorial_broken_template_message() -> None:
    text = (ROOT / "templates" / "purchase-order.yaml").read_text()
    broken = text.replace("depends_on: [check_budget]", "depends_on: [check_budgte]")
    from cli.offline import check_text

    _, problems = check_text("templates/purchase-order.yaml", broken, "yaml", None)
    assert [str(p) for p in problems][0] in TUTORIAL.read_text()


@pytest.fixture
def demo_services() -> str:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "scripts/demo_services.py", "--port", str(port)], cwd=ROOT,
        stdout=subprocess.PIPE, text=True,
    )
    assert "demo services on" in (proc.stdout.readline() if proc.stdout else "")
    assert httpx.get(f"http://127.0.0.1:{port}/erp/budget/x", timeout=5).status_code == 200
    yield f"127.0.0.1:{port}"
    proc.terminate()
    proc.wait(timeout=10)


@pytest.mark.timeout(180)
def test_tutorial_commands_run(stack: Stack, demo_services: str) -> None:
    script = "\n".join(m.group("body") for m in blocks("test"))
    assert "relayflow decide po-1001" in script
    script = script.replace("127.0.0.1:8765", demo_services)
    admin = {"Authorization": f"Bearer {TOKENS['alice']}"}
    httpx.put(  # the tutorial's ERP is the demo services (make run's `erp` connection)
        f"{stack.api}/connections/erp", json={"base_url": f"http://{demo_services}/erp"},
        headers=admin, timeout=30,
    ).raise_for_status()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RELAYFLOW_")}
    env.update(
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        RELAYFLOW_API=stack.api, COLUMNS="200",
    )
    try:
        proc = subprocess.run(
            ["bash", "-e", "-o", "pipefail", "-c", script], cwd=ROOT, env=env,
            capture_output=True, text=True, timeout=170,
        )
    finally:  # the other CLI tests use the stack's own ERP
        httpx.put(
            f"{stack.api}/connections/erp", json={"base_url": stack.erp}, headers=admin, timeout=30
        ).raise_for_status()
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "purchase-order@" in out and "template(s) valid" in out
    assert f"base_url  http://{demo_services}/erp" in out  # `relayflow connections show erp`
    assert "run po-1000: completed" in out
    assert "manager_approval: skipped" in out
    assert "waiting for user:mike, user:mia, role:manager" in out
    assert "error: forbidden (HTTP 403)" in out and "exit code 3" in out
    assert "approved recorded on po-1001 manager_approval" in out
    assert '"order_id": "ORD-PO-1001"' in out
    assert "rejected recorded on po-1002 manager_approval" in out
    listed = [line.split() for line in proc.stdout.splitlines() if line.startswith("po-100")]
    rows = {cells[0]: cells for cells in listed if len(cells) > 2 and "@" in cells[1]}
    assert {"po-1000", "po-1001", "po-1002"} <= set(rows), proc.stdout  # `relayflow runs`
    assert all(rows[r][2] == "completed" for r in ("po-1000", "po-1001", "po-1002"))
