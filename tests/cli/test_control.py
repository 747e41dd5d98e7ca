"""Operator commands: reassign an approval, pause / resume / cancel a run."""

from __future__ import annotations

import uuid

from tests.cli.conftest import Cli, Stack
from tests.cli.test_runs import po_input


def test_operator_reassigns_to_a_director(cli: Cli, stack: Stack) -> None:
    run_id = f"po-reassign-{uuid.uuid4().hex[:8]}"
    assert cli("run", "purchase-order", "--input", po_input(stack, 7000, "PO-R1"), "--run-id", run_id).exit_code == 0
    assert cli("wait", run_id, "--until", "waiting", "--timeout", "60").exit_code == 0

    r = cli("reassign", run_id, "manager_approval", user="olga")
    assert r.exit_code == 2 and "--user or --role" in r.stderr

    r = cli("reassign", run_id, "manager_approval", "--role", "director", user="olga")
    assert r.exit_code == 0, r.output
    assert f"{run_id} manager_approval reassigned to role:director" in r.stdout

    assert run_id in cli("inbox", user="dave").stdout
    r = cli("decide", run_id, "manager_approval", "approved", user="dave")
    assert r.exit_code == 0, r.output
    assert cli("wait", run_id, "--timeout", "60").exit_code == 0


def test_pause_resume_cancel(cli: Cli, stack: Stack) -> None:
    run_id = f"po-ctl-{uuid.uuid4().hex[:8]}"
    assert cli("run", "purchase-order", "--input", po_input(stack, 3000, "PO-C1"), "--run-id", run_id).exit_code == 0
    assert cli("wait", run_id, "--until", "waiting", "--timeout", "60").exit_code == 0

    r = cli("pause", run_id, user="mike")  # neither starter nor operator
    assert r.exit_code == 3 and "(HTTP 403)" in r.stderr
    r = cli("pause", run_id)  # sam started it
    assert r.exit_code == 0 and f"pause requested for {run_id}" in r.stdout
    r = cli("wait", run_id, "--until", "waiting", "--timeout", "10")  # open approval (and paused)
    assert r.exit_code == 0, r.output
    assert cli("resume", run_id, user="olga").exit_code == 0
    assert cli("cancel", run_id, user="olga").exit_code == 0
    r = cli("wait", run_id, "--timeout", "60")
    assert r.exit_code == 1 and f"run {run_id}: cancelled" in r.stdout


def test_decide_bulk_file(cli: Cli, stack: Stack, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """`relayflow decide --bulk FILE`: one row per item; exit 1 when any is refused."""
    tag = uuid.uuid4().hex[:8]
    ok, closed = f"po-bulk-ok-{tag}", f"po-bulk-closed-{tag}"
    for run_id in (ok, closed):
        assert cli("run", "purchase-order", "--input", po_input(stack, 4000, run_id), "--run-id", run_id).exit_code == 0
        assert cli("wait", run_id, "--until", "waiting", "--timeout", "60").exit_code == 0
    assert cli("decide", closed, "manager_approval", "rejected", user="mike").exit_code == 0
    assert cli("wait", closed, "--timeout", "60").exit_code == 0
    ghost = f"po-bulk-ghost-{tag}"
    path = tmp_path / "decisions.yaml"
    path.write_text(
        "decisions:\n"
        f"  - {{run_id: {ok}, step: manager_approval, outcome: approved, comment: bulk}}\n"
        f"  - {{run_id: {closed}, step: manager_approval, outcome: approved}}\n"
        f"  - {{run_id: {ghost}, step: manager_approval, outcome: approved}}\n"
    )
    r = cli("decide", "--bulk", str(path), "--json", user="mike")
    assert r.exit_code == 1, r.output
    import json

    results = json.loads(r.stdout)["results"]
    assert [(x["run_id"], x["status"]) for x in results] == [(ok, 200), (closed, 409), (ghost, 404)]
    assert cli("wait", ok, "--timeout", "60").exit_code == 0
    r = cli("decide", "--bulk", str(path), user="mike")
    assert r.exit_code == 1 and ok in r.stdout and "409" in r.stdout
    r = cli("decide", "--bulk", str(path), ok, user="mike")
    assert r.exit_code == 2
