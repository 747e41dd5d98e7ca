"""CEL expressions for templates (SPEC §2 "Expressions"), behind a small interface.

Backed by Google's C++ CEL (`cel-expr-python`, compiled and run in
`workflows.language.cel_program`): no `eval`, no clock, no I/O, no attribute access
to Python objects. The workflow evaluates expressions inside the Temporal sandbox,
so everything here is deterministic: results are converted to plain JSON-ish Python
with map keys sorted (native CEL maps iterate in random order, which would make
replays diverge), and the only process state is an LRU cache of compiled programs
(a pure function of the source).

Public interface: `evaluate`, `render`, `check`, `embedded`, `step_refs`,
`dynamic_steps_access`, `ExpressionError`, `SCOPE_NAMES`, `TRIGGER_NAMES`.
See docs/expressions.md for the language, limits and measurements.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from typing import Any

from workflows.language import cel_budget as budget
from workflows.language.cel_lex import scan_embedded
from workflows.language.cel_program import (
    Program,
    clean,
    compiled,
    execute,
    failed,
    tokens_of,
)
from workflows.language.cel_values import (
    Size,
    largest_string_under,
    largest_under,
    to_cel,
    to_plain,
)
from workflows.language.expression_errors import BudgetExceeded, ExpressionError

# Names a template expression may use (SPEC §2); triggers use TRIGGER_NAMES.
SCOPE_NAMES: frozenset[str] = frozenset(
    {"input", "steps", "vars", "item", "index", "iteration", "run", "task"}
)
TRIGGER_NAMES: frozenset[str] = frozenset({"body", "headers"})

# cel-expr-python 0.1.3 builds lists in map()/filter() by copying (quadratic) and has a
# fixed 10,000-iteration budget but no cost budget. Refuse list-building macros when
# the data they could range over is larger than this (measured: ~25 ms per 1,000
# elements, ~350 ms per 4,000), so one evaluation stays far below Temporal's 2 s
# workflow-task deadline. See docs/expressions.md.
MAX_BUILD_ELEMENTS = budget.MAX_BUILD_ELEMENTS
#: `+` inside macros: a worst-case estimate of the bytes built, refused before evaluating
#: above this many times the value budget (e.g. `l.map(x, s + s)` over big strings)
GROWTH_FACTOR = 64


# ---------------------------------------------------------------- public API


def _convert(value: Any, size: Size, source: str) -> Any:
    try:
        return to_cel(value, size)
    except TypeError as e:
        raise ExpressionError(source, str(e)) from None


def evaluate(source: str, scope: Mapping[str, Any]) -> Any:
    """Evaluate one CEL expression against plain data; returns plain, key-sorted Python.

    Raises ExpressionError for syntax errors, unknown names, missing keys, type
    errors, and `BudgetExceeded` for exceeded budgets; the message includes the expression.
    """
    program = compiled(source, frozenset(scope))
    try:
        meter = budget.begin(1 + program.plus if program.builds else 0)
    except budget.Hit as recorded:  # a replay: the history says this evaluation hit a budget
        raise BudgetExceeded(source, recorded.detail) from None
    try:
        return budget.run(meter, lambda: _evaluate(program, source, scope, meter))
    except budget.Hit as hit:
        budget.record(meter, hit)
        raise BudgetExceeded(source, hit.detail) from None


def _growth(program: Program, data: Mapping[str, Any], largest: int, meter: budget.Meter) -> None:
    """`+` inside macros: refuse when the worst case would build far more than the budget."""
    if not (program.macros and program.plus and meter.enforce):
        return
    longest = largest_string_under(data, program.paths)
    iterations = min(10_000, max(largest, program.literal) ** program.macros)
    worst = iterations * (1 + program.plus) * max(longest, 1)
    if worst > GROWTH_FACTOR * meter.max_value:
        meter.fail(
            budget.Hit(
                "value",
                f"budget exceeded: `+` inside map()/filter()/all()/exists() could build "
                f"{worst / 1048576:.0f} MiB ({iterations} iterations over strings of up to "
                f"{longest} characters), more than the value budget "
                "(EXPRESSION_MAX_VALUE_BYTES) allows",
            )
        )


def _evaluate(program: Program, source: str, scope: Mapping[str, Any], meter: budget.Meter) -> Any:
    names = [name for name in program.roots if name in scope]
    if program.builds or (program.macros and program.plus):
        data = {name: _convert(scope[name], Size(), source) for name in names}
        largest = largest_under(data, program.paths)
        if program.builds:
            meter.elements(largest, "data")
        _growth(program, data, largest, meter)
        result = execute(program, source, data)
    else:
        # fast path: plain JSON data goes in as it is; convert only when CEL refuses a
        # value (datetime, tuple, model...), which it reports lazily on access
        result = execute(program, source, {name: scope[name] for name in names})
        if failed(result) and "Non-CEL value type" in str(result.plain_value()):
            converted = {name: _convert(scope[name], Size(), source) for name in names}
            result = execute(program, source, converted)
    if meter.hit is not None:  # also when CEL absorbed the error (`x || true`)
        raise meter.hit
    if failed(result):
        raise ExpressionError(source, clean(str(result.plain_value())))
    try:
        out = to_plain(result.plain_value())
    except Exception as e:  # defensive: a value the converter does not know
        raise ExpressionError(source, f"cannot convert the result: {e}") from None
    if isinstance(out, float) and not math.isfinite(out):
        raise ExpressionError(source, f"result is {out} (not a finite number)")
    if not program.selects and isinstance(out, str | list | dict):
        meter.value(budget.size_of(out, meter.max_value), "the result")
    meter.cpu()
    return out


def check(source: str, names: Iterable[str]) -> None:
    """Compile-time check: syntax, unknown top-level names, literal type errors."""
    compiled(source, frozenset(names))


def embedded(value: Any) -> list[str]:
    """Every `${{ expr }}` source inside a value (strings of nested dicts/lists), in order."""
    found: list[str] = []

    def walk(v: Any) -> None:
        if isinstance(v, str):
            try:
                parts = scan_embedded(v)
            except ValueError as e:
                raise ExpressionError(v, str(e)) from None
            found.extend(p[0] for p in parts if not isinstance(p, str))
        elif isinstance(v, Mapping):
            for item in v.values():
                walk(item)
        elif isinstance(v, list | tuple):
            for item in v:
                walk(item)

    walk(value)
    return found


def _stringify(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def render(value: Any, scope: Mapping[str, Any]) -> Any:
    """Interpolate `${{ expr }}` in every string of a dict/list value (keys untouched).

    A string that is exactly one `${{ }}` (nothing around it) keeps the result's type; otherwise each result is inserted as text: strings as they are,
    everything else as compact JSON (`true`, `null`, `{"a":1}`). `$${{` is a
    literal `${{`.
    """
    if isinstance(value, str):
        try:
            parts = scan_embedded(value)
        except ValueError as e:
            raise ExpressionError(value, str(e)) from None
        if len(parts) == 1 and not isinstance(parts[0], str):
            return evaluate(parts[0][0], scope)
        if all(isinstance(p, str) for p in parts):
            return "".join(p for p in parts if isinstance(p, str))
        return "".join(
            p if isinstance(p, str) else _stringify(evaluate(p[0], scope)) for p in parts
        )
    if isinstance(value, Mapping):
        return {k: render(v, scope) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [render(v, scope) for v in value]
    return value


def _step_uses(source: str) -> list[str | None]:
    """For each top-level `steps`: the literal id it selects, or None (computed/whole)."""
    tokens = tokens_of(source)
    uses: list[str | None] = []
    for i, t in enumerate(tokens):
        if t.kind != "ident" or t.text != "steps" or (i > 0 and tokens[i - 1].text == "."):
            continue
        nxt = [x.text for x in tokens[i + 1 : i + 4]]
        kinds = [x.kind for x in tokens[i + 1 : i + 4]]
        if nxt[:1] == ["."] and kinds[1:2] == ["ident"]:
            uses.append(nxt[1])  # steps.id
        elif nxt[:2] == [".", "?"] and kinds[2:3] == ["ident"]:
            uses.append(nxt[2])  # steps.?id (optional select)
        elif nxt[:1] == ["["] and kinds[1:2] == ["string"] and nxt[2:3] == ["]"]:
            uses.append(str(tokens[i + 2].value))  # steps['id']
        else:
            uses.append(None)
    return uses


def step_refs(source: str) -> set[str]:
    """Step ids referenced as `steps.<id>`, `steps['<id>']` or `steps.?<id>` (top-level `steps`)."""
    return {u for u in _step_uses(source) if u is not None}


def dynamic_steps_access(source: str) -> bool:
    """True when `steps` is used other than with a literal id (e.g. `steps[x]`, `size(steps)`)."""
    return any(u is None for u in _step_uses(source))
