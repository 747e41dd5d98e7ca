"""workflows.language.expressions: CEL evaluation, interpolation, static checks."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from workflows.language import cel_program
from workflows.language import expressions as ex
from workflows.language.expressions import (
    ExpressionError,
    check,
    embedded,
    evaluate,
    render,
    step_refs,
)

SCOPE = {
    "input": {
        "amount": 1500,
        "po": "PO-7",
        "ratio": 0.5,
        "tags": ["a", "b"],
        "nested": {"z": 1, "a": 2},
    },
    "steps": {
        "approve": {"state": "succeeded", "decision": "approved", "output": {"status": 200}},
        "skipped_one": {"state": "skipped", "decision": None, "output": None},
    },
    "vars": {},
    "run": {"id": "r1", "started_at": datetime(2024, 1, 1, tzinfo=UTC)},
}


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("input.amount > 1000", True),
        ("input.amount * 2", 3000),
        ("input.ratio * 2.0", 1.0),
        ("input.po + '-x'", "PO-7-x"),
        ("size(input.tags)", 2),
        ("input.tags.map(t, t + '!')", ["a!", "b!"]),
        ("'b' in input.tags", True),
        ("steps.approve.decision == 'approved'", True),
        ("steps.skipped_one.decision == 'approved'", False),
        ("steps.skipped_one.state == 'skipped' || steps.skipped_one.decision == 'approved'", True),
        ("null", None),
        ("input.amount == 1500.0", True),
        ("has(input.missing)", False),
        ("timestamp(run.started_at) + duration('1h')", "2024-01-01T01:00:00Z"),
        ("duration('90m')", "5400s"),
        ("b'hi'", "aGk="),
        ("'A,B'.lowerAscii().split(',')", ["a", "b"]),
        ("math.greatest(1, 5, 3)", 5),
        ("input.?missing.orValue('dflt')", "dflt"),
    ],
)
def test_evaluate_values(source: str, expected: object) -> None:
    result = evaluate(source, SCOPE)
    assert result == expected
    assert type(result) is type(expected)


def test_int_stays_int_and_double_stays_float() -> None:
    assert type(evaluate("1 + 2", {})) is int
    assert type(evaluate("1.0 + 2.0", {})) is float
    assert type(evaluate("uint(3)", {})) is int


def test_map_keys_sorted_recursively() -> None:
    out = evaluate("{'z': 1, 'a': {'y': 1, 'b': 2}, 'm': [{'k': 1, 'c': 2}]}", {})
    assert list(out) == ["a", "m", "z"]
    assert list(out["a"]) == ["b", "y"]
    assert list(out["m"][0]) == ["c", "k"]
    assert list(evaluate("input.nested", SCOPE)) == ["a", "z"]


@pytest.mark.parametrize(
    ("source", "fragment"),
    [
        ("input.nope", "no such key 'nope'"),
        ("1 +", "Syntax error"),
        ("foo.bar", "unknown name 'foo'"),
        ("input.amount / 0", "divide by zero"),
        ("input.po + 1", "No matching overloads"),
        ("9223372036854775807 + 1", "overflow"),
        ("'x'.matches('[')", "regular expression"),
        ("", "empty expression"),
        ("x" * 5000, "longer than 4096"),
        ("'a'.replace('a', 'aa').replace('a', 'aa')", "replace()"),
    ],
)
def test_errors_are_expression_errors(source: str, fragment: str) -> None:
    with pytest.raises(ExpressionError) as info:
        evaluate(source, SCOPE)
    assert fragment in str(info.value)
    assert "expression `" in str(info.value)


def test_expression_error_pickles() -> None:
    import pickle

    err = ExpressionError("input.x", "boom")
    again = pickle.loads(pickle.dumps(err))
    assert str(again) == str(err) == "expression `input.x`: boom"
    assert (again.source, again.detail) == ("input.x", "boom")


def test_name_not_in_scope_is_unknown() -> None:
    with pytest.raises(ExpressionError, match="unknown name 'item'"):
        evaluate("item.x", SCOPE)


def test_budget_map_over_large_list_refused_quickly() -> None:
    scope = {"input": {"l": list(range(5000))}}
    with pytest.raises(ExpressionError, match="budget exceeded"):
        evaluate("input.l.map(x, x * 2)", scope)
    # non-building macros are linear and allowed
    assert evaluate("input.l.exists(x, x == 4999)", scope) is True
    # only the data the expression reads counts: a big list elsewhere does not
    scope = {"input": {"big": list(range(5000)), "small": [1, 2, 3]}}
    assert evaluate("input.small.map(x, x * 2)", scope) == [2, 4, 6]
    assert evaluate("input['small'].filter(x, x > 1)", scope) == [2, 3]
    with pytest.raises(ExpressionError, match="budget exceeded"):
        evaluate("input.small.map(x, size(input.big))", scope)
    with pytest.raises(ExpressionError, match="budget exceeded"):
        evaluate("input[input.which].map(x, x)", {"input": {**scope["input"], "which": "small"}})


def test_builtin_iteration_budget_becomes_expression_error() -> None:
    scope = {"input": {"l": list(range(200))}}
    with pytest.raises(ExpressionError, match="budget exceeded"):
        evaluate("input.l.exists(a, input.l.exists(b, a < 0))", scope)


def test_scope_conversion_of_tuples_and_models() -> None:
    from workflows.language.model import Retry

    assert evaluate("input.t[1]", {"input": {"t": (1, 2)}}) == 2
    assert evaluate("input.r.max_attempts", {"input": {"r": Retry()}}) == 3
    with pytest.raises(ExpressionError, match="cannot use a object"):
        evaluate("input.o", {"input": {"o": object()}})


def test_non_finite_result_rejected() -> None:
    with pytest.raises(ExpressionError, match="finite"):
        evaluate("1.0 / 0.0", {})


def test_compiled_programs_are_cached() -> None:
    cel_program.compiled.cache_clear()
    evaluate("input.amount + 1", SCOPE)
    evaluate("input.amount + 1", SCOPE)
    info = cel_program.compiled.cache_info()
    assert info.hits >= 1 and info.misses == 1


def test_render_keeps_type_for_single_expression() -> None:
    assert render("${{ input.amount }}", SCOPE) == 1500
    assert render("${{ input.nested }}", SCOPE) == {"a": 2, "z": 1}
    assert render({"a": ["${{ input.tags }}"]}, SCOPE) == {"a": [["a", "b"]]}


def test_render_stringifies_mixed_text_as_json() -> None:
    out = render(
        "po=${{ input.po }} n=${{ input.amount }} ok=${{ true }} none=${{ null }} m=${{ input.nested }}",
        SCOPE,
    )
    assert out == 'po=PO-7 n=1500 ok=true none=null m={"a":2,"z":1}'


def test_render_leaves_keys_and_non_strings_and_escapes() -> None:
    value = {"${{ input.po }}": 1, "n": 2, "b": True, "lit": "$${{ not.evaluated }}", "plain": "x"}
    assert render(value, SCOPE) == {
        "${{ input.po }}": 1,
        "n": 2,
        "b": True,
        "lit": "${{ not.evaluated }}",
        "plain": "x",
    }


def test_render_handles_braces_and_strings_inside() -> None:
    assert render("${{ {'a': {'b': '}}'}} }}", {}) == {"a": {"b": "}}"}}
    assert render("x ${{ '${{' }} y", {}) == "x ${{ y"


def test_render_unterminated_is_error() -> None:
    with pytest.raises(ExpressionError, match="unterminated"):
        render("a ${{ input.po ", SCOPE)
    with pytest.raises(ExpressionError, match="empty"):
        render("a ${{ }}", SCOPE)


def test_embedded_lists_every_expression() -> None:
    value = {"a": ["x ${{ input.a }} y ${{ steps.b.output }}"], "c": {"d": "${{ vars.e }}"}, "n": 1}
    assert embedded(value) == ["input.a", "steps.b.output", "vars.e"]
    assert embedded("no expressions") == []


def test_check_syntax_and_names() -> None:
    check("input.a > 1 && steps.b.state == 'succeeded'", ["input", "steps"])
    check("input.l.all(x, x > 0)", ["input"])  # comprehension variables are fine
    with pytest.raises(ExpressionError, match="unknown name 'vars'"):
        check("vars.x", ["input", "steps"])
    with pytest.raises(ExpressionError, match="Syntax error"):
        check("input.a >", ["input"])


def test_step_refs() -> None:
    src = "steps.a.output + steps['b'].x + 'steps.c' + input.steps.d + (has(steps.e) ? 1 : 2)"
    assert step_refs(src) == {"a", "b", "e"}
    assert step_refs('r\'steps.x\' + """steps.y"""') == set()
    assert ex.dynamic_steps_access("steps[input.k].state")
    assert ex.dynamic_steps_access("size(steps)")
    assert not ex.dynamic_steps_access("steps.a.state == steps['b'].state")
    assert step_refs("steps.?opt.orValue(1)") == {"opt"}
    assert not ex.dynamic_steps_access("steps.?opt.orValue(1)")


def test_trigger_names() -> None:
    names = ex.SCOPE_NAMES | ex.TRIGGER_NAMES
    check("body.action == 'opened' && headers['x-github-event'] == 'pull_request'", names)
    assert evaluate("body.pull_request.number", {"body": {"pull_request": {"number": 7}}}) == 7


# ---------------------------------------------------------------- inside the sandbox

from temporalio import workflow  # noqa: E402

with workflow.unsafe.imports_passed_through():
    from workflows.language import expressions as sandboxed  # noqa: E402


@workflow.defn(sandboxed=True)
class ExprProbe:
    """Evaluates expressions inside the Temporal workflow sandbox, as the interpreter does."""

    @workflow.run
    async def run(self, scope: dict[str, object]) -> list[object]:
        started = workflow.now()
        full = {**scope, "run": {"started_at": started}}
        return [
            sandboxed.evaluate("input.amount > 1000", full),
            sandboxed.render({"m": "${{ input.nested }}", "s": "po ${{ input.po }}"}, full),
            sandboxed.evaluate(
                "timestamp(run.started_at) < timestamp('2100-01-01T00:00:00Z')", full
            ),
        ]


async def test_evaluate_inside_workflow_sandbox(ts_env) -> None:  # type: ignore[no-untyped-def]
    import uuid

    from tests.helpers.temporal import new_worker

    async with new_worker(ts_env.client, workflows=[ExprProbe], activities=[]) as w:
        out = await ts_env.client.execute_workflow(
            ExprProbe.run,
            {"input": {"amount": 1500, "po": "PO-7", "nested": {"z": 1, "a": 2}}},
            id=f"probe-{uuid.uuid4()}",
            task_queue=w.task_queue,
        )
    assert out == [True, {"m": {"a": 2, "z": 1}, "s": "po PO-7"}, True]
    assert list(out[1]["m"]) == ["a", "z"]
