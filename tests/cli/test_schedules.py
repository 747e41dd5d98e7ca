"""`relayflow schedules create|list|delete` against the real API and Temporal Schedules."""

from __future__ import annotations

import json
import uuid

from tests.cli.conftest import Cli, Stack


def test_schedule_lifecycle(cli: Cli, stack: Stack) -> None:
    sid = f"cli-sched-{uuid.uuid4().hex[:6]}"
    run_input = json.dumps(
        {"amount": 10, "requester": "sam", "po": "PO-S", "cost_center": "cc"}
    )
    r = cli("schedules", "create", sid, "--template", "purchase-order", "--input", run_input,
            "--cron", "0 9 * * MON-FRI", "--timezone", "Europe/Berlin", "--paused", user="dana")
    assert r.exit_code == 0, r.output
    assert f"schedule {sid} created" in r.stdout

    r = cli("schedules", "list")
    assert r.exit_code == 0, r.output
    row = next(line for line in r.stdout.splitlines() if line.startswith(sid))
    assert "purchase-order@" in row and "0 9 * * MON-FRI" in row and "Europe/Berlin" in row and "yes" in row

    r = cli("schedules", "create", sid, "--template", "purchase-order", "--input", run_input,
            "--interval", "1h", user="dana")
    assert r.exit_code == 3 and "(HTTP 409)" in r.stderr  # the id is taken

    r = cli("schedules", "create", "x-bad-input", "--template", "purchase-order", "--input", "{}",
            "--interval", "1h", user="dana")
    assert r.exit_code == 3 and "(HTTP 422)" in r.stderr  # input checked at creation

    r = cli("schedules", "delete", sid, user="dana")
    assert r.exit_code == 0, r.output
    assert sid not in cli("schedules", "list").stdout
