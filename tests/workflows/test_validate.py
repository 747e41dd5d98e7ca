"""workflows.language.validate: valid templates pass, rules that need Python to express, API shape."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict

from tests.helpers.language import validate_template
from workflows.language.loader import load_document
from workflows.language.model import Template
from workflows.language.validate import Finding, main

SPEC_EXAMPLE = """
name: purchase-order
description: Approve and place a purchase order
input_schema:
  type: object
  required: [amount, requester]
  properties: {amount: {type: number}, requester: {type: string}}
steps:
  - id: check_budget
    action: http
    with: {method: GET, url: "https://erp.example/budget/${{ input.cost_center }}"}
    retry: {max_attempts: 5, initial_interval: 1s, backoff: 2.0, max_interval: 1m}
    timeout: 30s
  - id: manager_approval
    depends_on: [check_budget]
    when: "input.amount > 1000"
    approval:
      assignees: {roles: [manager]}
      timeout: 2d
      on_timeout: rejected
    sla:
      - after: 4h
        level: warning
        notify: {action: email, with: {to: "${{ task.emails }}", subject: "Reminder: PO ${{ input.po }}"}}
      - {after: 1d, level: critical, reassign: {roles: [director]}}
  - id: place_order
    depends_on: [manager_approval]
    run_if: none_failed
    when: "steps.manager_approval.state == 'skipped' || steps.manager_approval.decision == 'approved'"
    action: http
    with: {method: POST, url: "https://erp.example/orders", json: "${{ input }}"}
outputs:
  order: "${{ steps.place_order.output.body }}"
"""


def _v(doc: dict[str, Any], **kw: Any) -> list[tuple[str, str]]:
    return [(f.loc, f.msg) for f in validate_template(doc, **kw).findings]


def _steps(*steps: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"name": "t", "steps": list(steps), **extra}


def test_spec_example_is_valid() -> None:
    result = validate_template(load_document(SPEC_EXAMPLE))
    assert result.ok, result.findings
    assert isinstance(result.template, Template)
    assert result.template.steps[1].approval is not None


def test_template_instance_accepted() -> None:
    t = Template.model_validate(load_document(SPEC_EXAMPLE))
    result = validate_template(t)
    assert result.ok and result.template is t


def test_not_a_mapping() -> None:
    result = validate_template(["x"])  # type: ignore[arg-type]
    assert result.findings == [Finding("", "a template must be a mapping, got list")]


class StrictParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str
    count: int = 1


def test_custom_action_registry() -> None:
    actions = {"fetch": StrictParams, "anything": None}
    ok = _steps(
        {"id": "a", "action": "fetch", "with": {"url": "x", "count": 2}},
        {"id": "b", "action": "anything", "with": {"whatever": [1, 2]}},
    )
    assert _v(ok, actions=actions) == []
    bad = _steps(
        {"id": "a", "action": "fetch", "with": {"url": "x", "cnt": 2}},
        {"id": "b", "action": "fetch", "with": {"url": "x", "count": "many"}},
        {"id": "c", "action": "log", "with": {"message": "hi"}},
    )
    got = _v(bad, actions=actions)
    assert (
        "steps[0].with.cnt",
        "unknown field 'cnt' for action 'fetch' (did you mean 'count'?)",
    ) in got
    assert any(loc == "steps[1].with.count" and "integer" in msg for loc, msg in got)
    assert any(loc == "steps[2].action" and "unknown action 'log'" in msg for loc, msg in got)


def test_runtime_values_are_not_type_checked() -> None:
    actions = {"fetch": StrictParams}
    doc = _steps(
        {
            "id": "a",
            "action": "fetch",
            "with": {"url": "${{ input.erp }}", "count": "${{ input.n }}"},
        },
        {"id": "b", "action": "fetch", "with": {"url": "${{ input.u }}"}},
    )
    assert _v(doc, actions=actions) == []


def test_nested_scopes() -> None:
    doc = _steps(
        {"id": "prep", "action": "log", "with": {"message": "x"}},
        {
            "id": "each",
            "depends_on": ["prep"],
            "foreach": {
                "items": "steps.prep.output.items",
                "steps": [
                    {
                        "id": "one",
                        "action": "log",
                        "with": {
                            "message": "${{ item.name }} ${{ index }} ${{ steps.prep.output }}"
                        },
                    },
                    {
                        "id": "two",
                        "depends_on": ["one"],
                        "action": "log",
                        "with": {"message": "${{ steps.one.output }}"},
                    },
                ],
            },
        },
        {
            "id": "again",
            "loop": {
                "max_iterations": 5,
                "until": "steps.check.output.done || iteration >= 4",
                "steps": [
                    {"id": "check", "action": "log", "with": {"message": "try ${{ iteration }}"}}
                ],
            },
        },
        {
            "id": "after",
            "depends_on": ["each"],
            "action": "log",
            "with": {"message": "${{ steps.each.output }}"},
        },
    )
    assert _v(doc) == []


def test_nested_cannot_see_parent_or_later_steps() -> None:
    doc = _steps(
        {"id": "later", "depends_on": ["each"], "action": "log", "with": {"message": "x"}},
        {
            "id": "each",
            "foreach": {
                "items": "input.l",
                "steps": [
                    {
                        "id": "one",
                        "action": "log",
                        "with": {"message": "${{ steps.each.output }} ${{ steps.later.output }}"},
                    }
                ],
            },
        },
    )
    got = _v(doc)
    assert [m for _, m in got if "'each' is not upstream" in m]
    assert [m for _, m in got if "'later' is not upstream" in m]


def test_run_level_sla_on_approvals() -> None:
    doc = load_document(SPEC_EXAMPLE)
    doc["sla"] = [
        {
            "after": "3d",
            "level": "overdue",
            "decide": "rejected",
            "notify": {"action": "log", "with": {"message": "${{ task.step }} ${{ run.id }}"}},
        },
    ]
    assert _v(doc) == []
    doc["sla"][0]["decide"] = "maybe"
    assert any(loc == "sla[0].decide" and "any approval" in m for loc, m in _v(doc))


def test_subflow_resolution_and_cycles() -> None:
    def tpl(name: str, *targets: str) -> Template:
        steps = [{"id": f"s{i}", "subflow": {"template": t}} for i, t in enumerate(targets)]
        return Template.model_validate(
            {"name": name, "steps": steps or [{"id": "x", "action": "log"}]}
        )

    registry = {
        "b": tpl("b", "c"),
        "c": tpl("c"),
        "loop-a": tpl("loop-a", "loop-b"),
        "loop-b": tpl("loop-b", "root"),
    }
    calls: list[tuple[str, int | None]] = []

    def resolve(name: str, version: int | None) -> Template | None:
        calls.append((name, version))
        return registry.get(name)

    ok = {"name": "root", "steps": [{"id": "s", "subflow": {"template": "b", "version": 2}}]}
    assert _v(ok, resolve_template=resolve) == []
    assert ("b", 2) in calls
    unknown = {
        "name": "root",
        "steps": [{"id": "s", "subflow": {"template": "nope", "version": 3}}],
    }
    assert _v(unknown, resolve_template=resolve) == [
        ("steps[0].subflow.template", "unknown template 'nope' version 3")
    ]
    cyc = {"name": "root", "steps": [{"id": "s", "subflow": {"template": "loop-a"}}]}
    assert _v(cyc, resolve_template=resolve) == [
        ("steps[0].subflow.template", "subflow cycle: root → loop-a → loop-b → root")
    ]
    # without a resolver, only self-reference is checked
    assert _v(unknown) == []


def test_unexpected_exception_becomes_finding() -> None:
    def broken(name: str, version: int | None) -> Template | None:
        raise RuntimeError("db down")

    doc = {"name": "root", "steps": [{"id": "s", "subflow": {"template": "b"}}]}
    got = _v(doc, resolve_template=broken)
    assert got == [("", "internal error while validating: RuntimeError: db down")]


def test_findings_sorted_naturally_and_collected() -> None:
    steps = [{"id": f"s{i}", "action": "log", "with": {"message": "x"}} for i in range(12)]
    steps[2]["action"] = "nope"
    steps[10]["action"] = "nope"
    steps[11]["when"] = "inputs.x"
    got = _v({"name": "t", "steps": steps})
    assert [loc for loc, _ in got] == ["steps[2].action", "steps[10].action", "steps[11].when"]


def test_bracket_step_refs_checked() -> None:
    doc = _steps({"id": "a", "action": "log", "with": {"message": "${{ steps['zz'].output }}"}})
    assert _v(doc) == [("steps[0].with.message", "expression `steps['zz'].output`: no step 'zz'")]


def test_wait_until_accepts_bare_or_interpolated() -> None:
    for until in ["input.at", "${{ input.at }}", "timestamp(run.started_at) + duration('1h')"]:
        assert _v(_steps({"id": "w", "wait": {"until": until}})) == []


def test_cli_schema(capsys: pytest.CaptureFixture[str]) -> None:
    """`python -m workflows.language.validate --schema`; files are `relayflow validate`'s."""
    assert main(["--schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema["title"] == "Template"
    assert main(["some.yaml"]) == 2


def test_subflow_input_checked_against_child_schema() -> None:
    child = Template.model_validate(
        {
            "name": "child",
            "input_schema": {
                "type": "object",
                "required": ["amount", "who"],
                "properties": {"amount": {"type": "number"}, "who": {"type": "string"}},
            },
            "steps": [{"id": "x", "action": "log", "with": {"message": "hi"}}],
        }
    )

    def resolve(name: str, version: int | None) -> Template | None:
        return child if name == "child" else None

    def doc(inp: dict[str, Any]) -> dict[str, Any]:
        return {"name": "p", "steps": [{"id": "s", "subflow": {"template": "child", "input": inp}}]}

    assert _v(doc({"amount": 5, "who": "${{ input.who }}"}), resolve_template=resolve) == []
    got = _v(doc({"amount": "five", "who": "ann"}), resolve_template=resolve)
    assert got == [
        (
            "steps[0].subflow.input.amount",
            "does not match the input_schema of 'child': 'five' is not of type 'number'",
        )
    ]
    got = _v(doc({"who": "ann"}), resolve_template=resolve)
    assert got == [
        (
            "steps[0].subflow.input",
            "does not match the input_schema of 'child': 'amount' is a required property",
        )
    ]


@pytest.mark.parametrize("bad", [-1, "150%", "abc", "-5%", "5 %", "10", 2.5, True])
def test_foreach_tolerated_failures_refused(bad: Any) -> None:
    fe = {"id": "fe", "foreach": {"items": "[1, 2]", "tolerated_failures": bad, "steps": [{"id": "s", "set": {"a": 1}}]}}
    findings = _v(_steps(fe))
    assert findings and all(loc.startswith("steps[0].foreach.tolerated_failures") for loc, _ in findings), findings


@pytest.mark.parametrize("ok", [0, 3, "0%", "25%", "100%"])
def test_foreach_tolerated_failures_accepted(ok: Any) -> None:
    fe = {"id": "fe", "foreach": {"items": "[1, 2]", "tolerated_failures": ok, "steps": [{"id": "s", "set": {"a": 1}}]}}
    assert _v(_steps(fe)) == []
