"""`cli.template_cases`: case files and the comparison behind `relayflow test` (no server)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cli.template_cases import CaseFileError, compare, load, parse

RESULT = {
    "state": "completed",
    "error": None,
    "output": {"order": {"id": "O-1", "lines": [1, 2]}, "decision": "approved", "n": 2},
    "steps": {
        "budget": {"state": "succeeded", "attempts": 1, "error": None, "output": {"ok": True}},
        "approve": {"state": "succeeded", "decision": "approved", "error": None, "output": {}},
        "send": {"state": "failed", "attempts": 3, "error": "POST x -> 503 Service Unavailable"},
    },
}


def test_a_matching_expectation_has_no_differences() -> None:
    expect = {
        "state": "completed",
        "error": None,
        "output": {"order": {"id": "O-1"}, "n": 2.0},  # a subset; 2 == 2.0
        "steps": {"budget": "succeeded", "approve": {"decision": "approved"},
                  "send": {"error": "503", "attempts": 3}},
    }
    assert compare(expect, RESULT) == []


def test_every_difference_is_one_readable_line() -> None:
    expect = {
        "state": "failed",
        "output": {"order": {"id": "O-2", "lines": [1]}, "missing": 1, "decision": True},
        "steps": {"budget": {"state": "failed", "colour": "red"}, "send": {"error": "timeout"},
                  "ghost": "skipped", "approve": {"error": None}},
        "error": "boom",
    }
    assert compare(expect, RESULT) == [
        "state: expected 'failed', got 'completed'",
        "error: expected an error containing 'boom', got null",
        "output.order.id: expected 'O-2', got 'O-1'",
        "output.order.lines: expected [1], got [1, 2]",
        "output.missing: missing (expected 1)",
        "output.decision: expected true, got 'approved'",
        "steps.budget.state: expected 'failed', got 'succeeded'",
        "steps.budget.colour: not a step field (attempts, error, output, state)",
        "steps.send.error: expected an error containing 'timeout', "
        "got 'POST x -> 503 Service Unavailable'",
        "steps.ghost: no such step in the run (steps: budget, approve, send)",
    ]


def test_defaults_merge_into_cases(tmp_path: Path) -> None:
    path = tmp_path / "cases.yaml"
    path.write_text(
        "template: po\n"
        "mocks: {a: {output: 1}, b: {output: 2}}\n"
        "cases:\n"
        "  - {name: one, input: {x: 1}, mocks: {b: {error: down}}, decisions: {c: ok},"
        " allow_real: [d], expect: {state: failed}}\n"
        "  - {input: {x: 2}}\n"
    )
    loaded = load(path)
    assert loaded.template == "po"
    one, two = loaded.cases
    assert one.body == {"input": {"x": 1}, "mocks": {"a": {"output": 1}, "b": {"error": "down"}},
                        "decisions": {"c": "ok"}, "allow_real": ["d"]}
    assert one.expect == {"state": "failed"}
    assert two.name == "case 2" and two.body["mocks"] == {"a": {"output": 1}, "b": {"output": 2}}


@pytest.mark.parametrize(
    ("doc", "words"),
    [
        ([], "a mapping"),
        ({"cases": []}, "non-empty list"),
        ({"cases": [{"name": "a"}], "extra": 1}, "unknown key(s) extra"),
        ({"cases": [{"name": "a", "colour": 1}]}, "cases[0]: unknown key(s) colour"),
        ({"cases": [{"name": "a"}, {"name": "a"}]}, "duplicate case name 'a'"),
        ({"cases": [{"expect": {"status": "x"}}]}, "cases[0].expect"),
    ],
)
def test_unusable_case_files_say_why(doc: object, words: str) -> None:
    with pytest.raises(CaseFileError, match=None) as e:
        parse(doc)
    assert words in str(e.value)


def test_unreadable_files(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("cases: [")
    with pytest.raises(CaseFileError, match="not valid"):
        load(bad)
    with pytest.raises(CaseFileError, match="cannot read"):
        load(tmp_path / "none.yaml")
