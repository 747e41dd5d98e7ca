"""`relayflow stats` and `relayflow audit` against the real stack (its API ingests closed runs
in the background), and the stack worker's Prometheus endpoint."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import httpx

from cli.cmd_stats import sparkline
from tests.cli.conftest import Cli, Stack
from tests.cli.test_runs import po_input


def _eventually(fn: Any, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = fn()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.5)


def test_sparkline_scales_to_the_busiest_day() -> None:
    assert sparkline([0, 1, 2, 4]) == " ▃▅█"
    assert sparkline([0, 0]) == "  "
    assert sparkline([]) == ""


def test_stats_and_audit_of_a_finished_run(cli: Cli, stack: Stack) -> None:
    run_id = f"po-stats-{uuid.uuid4().hex[:8]}"
    r = cli("run", "purchase-order", "--input", po_input(stack, 120, "PO-ST1"), "--run-id", run_id,
            "--wait", "--timeout", "60")
    assert r.exit_code == 0, r.output

    def ingested() -> dict[str, Any] | None:
        r = cli("stats", "purchase-order", "--since", "1h", "--json")
        assert r.exit_code == 0, r.output
        body: dict[str, Any] = json.loads(r.stdout)
        return body if body["completed"] >= 1 else None

    body = _eventually(ingested)
    assert body, "the run never reached the analytics store"
    steps = {s["step"]: s for s in body["steps"]}
    assert steps["place_order"]["succeeded"] >= 1 and steps["manager_approval"]["skipped"] >= 1

    r = cli("stats", "purchase-order", "--since", "1h")
    assert r.exit_code == 0, r.output
    assert "purchase-order" in r.stdout and "place_order" in r.stdout and "█" in r.stdout
    r = cli("stats", "--since", "1h")
    assert r.exit_code == 0 and "purchase-order" in r.stdout

    r = cli("audit", run_id)
    assert r.exit_code == 0, r.output
    for word in ("run_started", "step_succeeded", "check_budget", "step_skipped", "run_closed", "sam"):
        assert word in r.stdout, (word, r.stdout)
    r = cli("audit", run_id, "--csv")
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert lines[0] == "at,kind,step,actor,detail"
    assert lines[1].split(",")[1:4] == ["run_started", "", "sam"]

    r = cli("audit", "no-such-run-xyz")
    assert r.exit_code == 3 and "not_found" in r.stderr


def test_stack_worker_serves_metrics(cli: Cli, stack: Stack) -> None:
    url = f"http://127.0.0.1:{stack.env['WORKER_METRICS_PORT']}/metrics"
    r = cli("run", "purchase-order", "--input", po_input(stack, 50, "PO-ST2"), "--wait", "--timeout", "60")
    assert r.exit_code == 0, r.output
    text = httpx.get(url, timeout=10).text
    assert 'relayflow_runs_started_total{' in text and 'template="purchase-order"' in text
    assert "relayflow_action_calls_total{" in text and "temporal_workflow_completed" in text
    api = httpx.get(f"{stack.api}/metrics", timeout=10).text
    assert 'relayflow_http_requests_total{method="POST",route="/runs",status="201"}' in api
