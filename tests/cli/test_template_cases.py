"""`relayflow test TEMPLATE CASES.yaml` against the real stack (dev server, worker, API).

Every built-in template has a case file in `templates/tests/` and its cases pass; a wrong
expectation fails with a readable diff (exit 1); a case the API refuses (an unmocked
action step) fails naming the step; a user who may not test gets exit 3.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from cli.template_cases import load
from tests.cli.conftest import Cli

ROOT = Path(__file__).resolve().parents[2]
CASE_FILES = sorted((ROOT / "templates" / "tests").glob("*.yaml"))
PO = ROOT / "templates" / "tests" / "purchase-order.yaml"


def test_every_built_in_template_has_cases() -> None:
    templates = {p.stem for p in (ROOT / "templates").glob("*.yaml")}
    assert {p.stem for p in CASE_FILES} == templates
    for path in CASE_FILES:
        assert load(path).template == path.stem


@pytest.mark.parametrize("path", CASE_FILES, ids=lambda p: p.stem)
def test_the_built_in_cases_pass(cli: Cli, path: Path) -> None:
    r = cli("test", path.stem, str(path), user="dana")
    assert r.exit_code == 0, r.output
    cases = load(path).cases
    for case in cases:
        [row] = [line for line in r.stdout.splitlines() if case.name in line]
        assert "pass" in row, row
    assert f"{len(cases)} passed, 0 failed" in r.stdout


def test_a_wrong_expectation_fails_with_a_readable_diff(cli: Cli, tmp_path: Path) -> None:
    doc = yaml.safe_load(PO.read_text())
    small = doc["cases"][0]
    small["expect"]["output"]["decision"] = "approved"  # wrong: small orders need none
    small["expect"]["steps"]["place_order"] = "skipped"  # wrong: it is placed
    small["expect"]["steps"]["check_budget"] = {"state": "succeeded", "attempts": 2}
    path = tmp_path / "wrong.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    r = cli("test", "purchase-order", str(path), user="dana")
    assert r.exit_code == 1, r.output
    assert "FAIL small order" in r.stdout
    assert "output.decision: expected 'approved', got 'not needed'" in r.stdout
    assert "steps.place_order.state: expected 'skipped', got 'succeeded'" in r.stdout
    assert "steps.check_budget.attempts: expected 2, got 1" in r.stdout
    assert "3 passed, 1 failed" in r.stdout  # the other cases still ran and passed

    r = cli("test", "purchase-order", str(path), "--json", user="dana")
    assert r.exit_code == 1
    rows = {row["case"]: row for row in json.loads(r.stdout)}
    assert rows["small order"]["passed"] is False and len(rows["small order"]["diffs"]) == 3
    assert rows["ERP down"]["passed"] is True


def test_an_unmocked_action_step_fails_the_case_naming_it(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "unmocked.yaml"
    path.write_text(yaml.safe_dump({"cases": [{
        "name": "no order mock",
        "input": {"amount": 10, "requester": "sam", "po": "P", "cost_center": "C"},
        "mocks": {"check_budget": {"output": {"status": 200, "body": {}}}},
        "expect": {"state": "completed"},
    }]}))
    r = cli("test", "purchase-order", str(path), user="dana")
    assert r.exit_code == 1, r.output
    assert "ERROR" in r.stdout and "the API refused the case" in r.stdout
    assert "mocks.place_order: action step 'place_order' (http) has no mock" in r.stdout


def test_usage_and_access_errors(cli: Cli, tmp_path: Path) -> None:
    r = cli("test", "purchase-order", str(PO), user="sam")  # a requester may not test
    assert r.exit_code == 3 and "forbidden" in r.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("cases: [{name: x, expect: {colour: red}}]")
    r = cli("test", "purchase-order", str(bad), user="dana")
    assert r.exit_code == 2 and "expect" in r.stderr
    r = cli("test", "purchase-order", str(PO), "--case", "no such case", user="dana")
    assert r.exit_code == 2
    r = cli("test", "purchase-order", str(PO), "--case", "ERP down", user="dana")
    assert r.exit_code == 0 and "1 passed, 0 failed" in r.stdout
