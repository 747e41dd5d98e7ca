"""workflows.language.compiler and workflows.language.loader."""

from __future__ import annotations

import pytest

from workflows.kinds.action import ActionStep as Step
from workflows.language.compiler import CompiledTemplate, compile_template, topo_order
from workflows.language.loader import TemplateSyntaxError, load_document
from workflows.language.model import Retry, Template


def _t(steps: list[dict]) -> Template:
    return Template.model_validate({"name": "t", "steps": steps})


def test_defaults_filled_top_level_and_nested() -> None:
    t = _t(
        [
            {"id": "a", "action": "log", "with": {"message": "x"}},
            {"id": "b", "action": "http", "retry": {"max_attempts": 7}, "timeout": "10s"},
            {
                "id": "each",
                "foreach": {"items": "input.l", "steps": [{"id": "n", "action": "log"}]},
            },
            {"id": "w", "wait": {"duration": "1s"}},
        ]
    )
    c = compile_template(t, 3)
    assert isinstance(c, CompiledTemplate)
    assert (c.name, c.version) == ("t", 3)
    a, b, each, w = c.template.steps
    assert a.retry == Retry() and a.retry.max_attempts == 3 and a.retry.initial_interval == "1s"
    assert a.retry.backoff == 2.0 and a.retry.max_interval == "1m"
    assert a.timeout == "5m"
    assert b.retry is not None and b.retry.max_attempts == 7 and b.timeout == "10s"
    assert each.foreach is not None
    nested = each.foreach.steps[0]
    assert nested.retry == Retry() and nested.timeout == "5m"
    assert w.retry is None and w.timeout is None  # only actions get action defaults
    # the input is not mutated
    assert t.steps[0].retry is None and t.steps[0].timeout is None


def test_compiled_round_trips_through_json() -> None:
    c = compile_template(
        _t([{"id": "a", "action": "log", "with": {"message": "${{ input.x }}"}}]), 1
    )
    again = CompiledTemplate.model_validate_json(c.model_dump_json(by_alias=True))
    assert again == c


def test_topo_order_stable_file_order() -> None:
    steps = [
        Step(id="c", action="log", depends_on=["a"]),
        Step(id="a", action="log"),
        Step(id="b", action="log"),
        Step(id="d", action="log", depends_on=["c", "b"]),
    ]
    # among ready steps the earliest in the file goes first: c (file position 0) is
    # ready as soon as a is done, before b (position 2)
    assert topo_order(steps) == ["a", "c", "b", "d"]
    assert compile_template(Template(name="x", steps=steps), 1).order == ["a", "c", "b", "d"]


def test_topo_order_cycle_raises_naming_steps() -> None:
    steps = [
        Step(id="a", action="log", depends_on=["b"]),
        Step(id="b", action="log", depends_on=["a"]),
        Step(id="c", action="log"),
    ]
    with pytest.raises(ValueError, match="a, b"):
        topo_order(steps)


def test_loader_yaml_and_json_load_the_same() -> None:
    y = "name: t\nsteps:\n  - id: a\n    action: log\n    with: {message: hi}\n"
    j = '{"name": "t", "steps": [{"id": "a", "action": "log", "with": {"message": "hi"}}]}'
    assert load_document(y) == load_document(j) == load_document(j.encode(), fmt="json")
    assert load_document(y.encode(), fmt="yaml") == load_document(y)


def test_loader_dates_stay_strings() -> None:
    assert load_document("name: t\nwhen: 2024-01-01\n")["when"] == "2024-01-01"


@pytest.mark.parametrize(
    ("text", "fmt", "fragment", "line"),
    [
        ("name: t\nsteps: [\n", "yaml", "invalid YAML", 3),
        ("name: t\n  bad: indent\n", "yaml", "invalid YAML", 2),
        ("name: t\nname: u\n", "yaml", "duplicate key 'name'", 2),
        ('{"name": "t",}', "json", "invalid JSON", 1),
        ("- a\n- b\n", "yaml", "mapping at the top level", None),
        ("", "yaml", "got empty", None),
        (b"\xff\xfe", None, "UTF-8", None),
    ],
)
def test_loader_errors(text: str | bytes, fmt: str | None, fragment: str, line: int | None) -> None:
    with pytest.raises(TemplateSyntaxError) as info:
        load_document(text, fmt=fmt)  # type: ignore[arg-type]
    assert fragment in str(info.value)
    assert info.value.line == line
    if line is not None:
        assert f"line {line}" in str(info.value)


def test_start_input_is_compact_and_decodes_equal() -> None:
    """The plan travels without absent fields (null/[]/{}) or the derived `order`; meaningful
    defaults (the filled-in retry policy, run_if) stay; free-form values keep their nulls."""
    import json

    from workflows.engine.io import RunInput

    t = _t(
        [
            {"id": "a", "action": "log", "with": {"message": None, "tags": []}},
            {"id": "b", "action": "http", "depends_on": ["a"]},
        ]
    )
    run = RunInput(plan=compile_template(t, 1), input={"x": None})
    raw = json.loads(run.model_dump_json())
    assert set(raw) == {"plan", "input"}
    assert raw["input"] == {"x": None}
    assert "order" not in raw["plan"]
    a, b = raw["plan"]["template"]["steps"]
    assert a["with_"] == {"message": None, "tags": []}
    assert "depends_on" not in a and "when" not in a and "name" not in a
    assert b["retry"]["max_attempts"] == 3 and b["run_if"] == "all_succeeded"
    back = RunInput.model_validate_json(run.model_dump_json())
    assert back == run and back.plan.order == ["a", "b"]
    # a plan recorded with `order` (older histories) still decodes
    old = {**raw["plan"], "order": ["a", "b"]}
    assert CompiledTemplate.model_validate(old) == run.plan


def test_new_plans_pin_the_current_engine_and_older_plans_keep_engine_1() -> None:
    from workflows.language.compiler import ENGINE

    c = compile_template(_t([{"id": "a", "action": "log"}]), 1)
    assert c.engine == ENGINE == 2
    data = c.model_dump(mode="json")
    assert data["engine"] == 2  # travels in the start input: the run keeps it
    del data["engine"]  # a plan recorded before `engine` existed
    assert CompiledTemplate.model_validate(data).engine == 1


def test_start_inputs_of_one_plan_share_its_decoded_plan() -> None:
    from workflows.engine.io import RunInput

    plan = compile_template(_t([{"id": "a", "action": "log", "with": {"message": "x"}}]), 1)
    other = compile_template(_t([{"id": "a", "action": "log", "with": {"message": "y"}}]), 1)
    one = RunInput(plan=plan, input={"n": 1}).model_dump_json()
    two = RunInput(plan=plan, input={"n": 2}).model_dump_json()
    three = RunInput(plan=other, input={"n": 1}).model_dump_json()
    a, b, c = (RunInput.model_validate_json(j) for j in (one, two, three))
    assert a.plan is b.plan and a.plan == plan  # decoded once, equal to what was sent
    assert (a.input, b.input) == ({"n": 1}, {"n": 2})  # the rest is per run
    assert c.plan is not a.plan and c.plan == other  # another plan is never shared
    assert RunInput(plan=plan).plan is plan  # a model passed in is taken as it is
    # pinned subflow plans are shared too
    kids = RunInput(plan=plan, subflows={"child@1": other}).model_dump_json()
    d, e = (RunInput.model_validate_json(kids) for _ in range(2))
    assert d.subflows["child@1"] is e.subflows["child@1"] is c.plan
    assert RunInput(plan=plan, subflows={"child@1": other}).subflows["child@1"] is other
