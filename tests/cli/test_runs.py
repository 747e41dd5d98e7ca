"""The online commands against the real stack: push, run (--wait), wait, status, inbox, decide, runs."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from tests.cli.conftest import Cli, Stack

FAILING = """\
name: cli-always-fails
steps:
  - id: note
    action: log
    with: {message: "about to fail"}
  - id: boom
    depends_on: [note]
    fail: {message: "nothing to see here"}
"""


def po_input(stack: Stack, amount: float, po: str) -> str:
    return json.dumps(
        {"amount": amount, "requester": "sam", "po": po, "cost_center": "cc-7"}
    )


def test_small_order_runs_to_completion_with_wait(cli: Cli, stack: Stack) -> None:
    run_id = f"po-small-{uuid.uuid4().hex[:8]}"
    r = cli("run", "purchase-order", "--input", po_input(stack, 120, "PO-S1"), "--run-id", run_id,
            "--tag", "team=ops", "--wait", "--timeout", "60")
    assert r.exit_code == 0, r.output
    assert f"started {run_id} (purchase-order@" in r.stderr
    assert "manager_approval: skipped" in r.stdout
    assert "place_order: succeeded" in r.stdout
    assert f"run {run_id}: completed" in r.stdout

    r = cli("status", run_id)
    assert r.exit_code == 0, r.output
    assert "completed" in r.stdout and "ORD-PO-S1" in r.stdout  # the output section

    r = cli("status", run_id, "--json")
    doc = json.loads(r.stdout)
    assert doc["state"] == "completed" and doc["steps"]["manager_approval"]["state"] == "skipped"
    assert "team:ops" in doc["tags"]

    r = cli("runs", "--template", "purchase-order", "--json")
    assert run_id in [x["run_id"] for x in json.loads(r.stdout)["runs"]]


def test_large_order_waits_for_a_manager_then_completes(cli: Cli, stack: Stack) -> None:
    run_id = f"po-big-{uuid.uuid4().hex[:8]}"
    r = cli("run", "purchase-order", "--input", po_input(stack, 5000, "PO-B1"), "--run-id", run_id)
    assert r.exit_code == 0, r.output
    assert r.stdout.strip() == run_id

    r = cli("wait", run_id, "--until", "waiting", "--timeout", "60")
    assert r.exit_code == 0, r.output
    assert "manager_approval: waiting" in r.stdout

    r = cli("status", run_id)
    row = next(line for line in r.stdout.splitlines() if line.startswith("manager_approval"))
    assert "waiting for" in row and "role:manager" in row
    assert "pending decisions" in r.stdout

    r = cli("inbox", user="mike")
    assert r.exit_code == 0 and run_id in r.stdout and "manager_approval" in r.stdout
    assert run_id not in cli("inbox", user="sam").stdout

    r = cli("decide", run_id, "manager_approval", "approved", user="sam")  # not a manager
    assert r.exit_code == 3
    assert "error: forbidden (HTTP 403)" in r.stderr

    r = cli("decide", run_id, "manager_approval", "approved", "--comment", "within budget", user="mike")
    assert r.exit_code == 0, r.output
    assert f"approved recorded on {run_id} manager_approval" in r.stdout

    r = cli("decide", run_id, "manager_approval", "approved", user="mike")  # second vote
    assert r.exit_code == 3 and "(HTTP 409)" in r.stderr

    r = cli("wait", run_id, "--timeout", "60")
    assert r.exit_code == 0, r.output
    doc = json.loads(cli("status", run_id, "--json").stdout)
    assert doc["steps"]["manager_approval"]["decision"] == "approved"
    assert doc["steps"]["manager_approval"]["output"]["decisions"][0]["comment"] == "within budget"

    r = cli("runs", "--template", "purchase-order", "--state", "completed")
    assert run_id in r.stdout


def test_failed_run_exits_1_and_shows_the_error(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "fails.yaml").write_text(FAILING)
    r = cli("templates", "push", str(tmp_path), user="dana")
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith("cli-always-fails@")

    r = cli("run", "cli-always-fails", "--wait", "--timeout", "60")
    assert r.exit_code == 1, r.output
    assert "boom: failed" in r.stdout
    assert "nothing to see here" in r.stdout
    run_id = r.stdout.splitlines()[0]
    r = cli("status", run_id)
    assert "failed" in r.stdout and "nothing to see here" in r.stdout

    r = cli("run", "cli-always-fails", "--wait", "--json", "--timeout", "60")
    assert r.exit_code == 1
    doc = json.loads(r.stdout)  # stdout is only the final status document
    assert doc["state"] == "failed" and doc["steps"]["boom"]["state"] == "failed"
    assert "boom: failed" in r.stderr


def test_push_reports_findings_with_lines(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text(FAILING.replace("cli-always-fails", "cli-bad").replace(
        "depends_on: [note]", "depends_on: [nope]"))
    r = cli("templates", "push", str(tmp_path / "bad.yaml"), user="dana")
    assert r.exit_code == 1, r.output
    assert f"{tmp_path / 'bad.yaml'}:7: steps[1].depends_on[0]:" in r.stdout

    r = cli("templates", "push", str(tmp_path), user="sam")  # requester may not save
    assert r.exit_code == 3 and "forbidden" in r.stderr


def test_api_errors_are_exit_3_with_code_and_detail(cli: Cli) -> None:
    r = cli("run", "no-such-template")
    assert r.exit_code == 3
    assert "error: not_found (HTTP 404)" in r.stderr

    r = cli("status", "no-such-run")
    assert r.exit_code == 3 and "(HTTP 404)" in r.stderr

    r = cli("run", "purchase-order", "--input", '{"amount": "lots"}')
    assert r.exit_code == 3 and "(HTTP 422)" in r.stderr

    r = cli("run", "purchase-order", "--input", "{not json")
    assert r.exit_code == 2 and "--input" in r.stderr

    r = cli("--token", "wrong", "runs")
    assert r.exit_code == 3 and "(HTTP 401)" in r.stderr


def test_offline_findings_equal_the_apis(cli: Cli, stack: Stack, tmp_path: Path) -> None:
    import httpx

    from cli.offline import check_files
    from tests.cli.conftest import TOKENS

    text = FAILING.replace("depends_on: [note]", "depends_on: [nope]") + (
        "  - id: later\n    depends_on: [boom]\n    action: log\n    with: {message: 1, colour: red}\n"
    )
    (tmp_path / "bad.yaml").write_text(text)
    offline = {(p.loc, p.msg) for p in check_files([tmp_path / "bad.yaml"])}
    r = httpx.post(
        f"{stack.api}/templates/validate", content=text.encode(),
        headers={"Content-Type": "application/yaml", "Authorization": f"Bearer {TOKENS['dana']}"},
    )
    assert r.status_code == 422, r.text
    online = {(e["loc"], e["msg"]) for e in r.json()["errors"]}
    assert offline == online and len(offline) >= 2
