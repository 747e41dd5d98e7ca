"""CEL expressions for templates (SPEC §2 "Expressions"), behind a small interface.

Backed by Google's C++ CEL (`cel-expr-python`): no `eval`, no clock, no I/O, no
attribute access to Python objects. The workflow evaluates expressions inside the
Temporal sandbox, so everything here is deterministic: results are converted to
plain JSON-ish Python with map keys sorted (native CEL maps iterate in random
order, which would make replays diverge), and the only process state is an LRU
cache of compiled programs (a pure function of the source).

Public interface: `evaluate`, `render`, `check`, `embedded`, `step_refs`,
`dynamic_steps_access`, `ExpressionError`, `SCOPE_NAMES`, `TRIGGER_NAMES`.
See docs/expressions.md for the language, limits and measurements.
"""

from __future__ import annotations

import json
import math
import re
import threading
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

from temporalio import workflow

# The C++ extension cannot be imported twice in one process (pybind11 registers its
# types globally), so even when this module is re-imported inside the Temporal
# workflow sandbox, the extension itself is always passed through.
with workflow.unsafe.imports_passed_through():
    from cel_expr_python import cel
    from cel_expr_python.ext import ext_encoders, ext_math, ext_optional, ext_strings

from workflows.language import cel_budget as budget
from workflows.language.cel_lex import Token, paths, scan_embedded, tokenize
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

MAX_EXPRESSION_LENGTH = 4096
# cel-expr-python 0.1.3 builds lists in map()/filter() by copying (quadratic) and has a
# fixed 10,000-iteration budget but no cost budget. Refuse list-building macros when
# the data they could range over is larger than this (measured: ~25 ms per 1,000
# elements, ~350 ms per 4,000), so one evaluation stays far below Temporal's 2 s
# workflow-task deadline. See docs/expressions.md.
MAX_BUILD_ELEMENTS = budget.MAX_BUILD_ELEMENTS
MAX_REPLACE_CALLS = 1
_BUILDING_MACROS = frozenset(
    {"map", "filter", "transformList", "transformMap", "transformMapEntry"}
)
_MACROS = _BUILDING_MACROS | {"all", "exists", "exists_one", "existsOne"}
#: string functions that run metered (see workflows.language.cel_budget): source name -> CEL name
_METERED = {"replace": "_rf_replace", "split": "_rf_split", "join": "_rf_join"}
#: `+` inside macros: a worst-case estimate of the bytes built, refused before evaluating
#: above this many times the value budget (e.g. `l.map(x, s + s)` over big strings)
GROWTH_FACTOR = 64
_SELECT_PUNCT = frozenset({".", "[", "]", "?"})


_lock = threading.Lock()


def _metered_functions() -> list[Any]:
    """`_rf_replace`, `_rf_split`, `_rf_join`: the metered string functions (`_METERED`)."""
    text, num = cel.Type.STRING, cel.Type.INT
    texts, anys = cel.Type.List(cel.Type.STRING), cel.Type.List(cel.Type.DYN)
    overloads: dict[str, list[tuple[Any, list[Any], Any]]] = {
        "_rf_replace": [
            (text, [text, text, text], budget.replace),
            (text, [text, text, text, num], budget.replace),
        ],
        "_rf_split": [(texts, [text, text], budget.split), (texts, [text, text, num], budget.split)],
        "_rf_join": [(text, [anys], budget.join), (text, [anys, text], budget.join)],
    }
    return [
        cel.FunctionDecl(
            name,
            [
                cel.Overload(f"{name}_{len(params)}", ret, params, is_member=True, impl=impl)
                for ret, params, impl in variants
            ],
        )
        for name, variants in overloads.items()
    ]


@lru_cache(maxsize=64)
def _env(names: frozenset[str]) -> Any:
    variables = {n: cel.Type.DYN for n in sorted(names)}
    return cel.NewEnv(
        variables=variables,
        extensions=[
            ext_strings.ExtStrings(),
            ext_math.ExtMath(),
            ext_encoders.ExtEncoders(),
            ext_optional.ExtOptional(),
        ],
        functions=_metered_functions(),
    )


def _metered_source(source: str, tokens: list[Token]) -> str:
    """`source` with `.replace(`/`.split(`/`.join(` calls renamed to their metered versions."""
    out, last = [], 0
    for i, t in enumerate(tokens):
        if (
            t.kind == "ident"
            and t.text in _METERED
            and t.pos >= 0
            and i > 0
            and tokens[i - 1].text == "."
            and i + 1 < len(tokens)
            and tokens[i + 1].text == "("
        ):
            out.append(source[last : t.pos])
            out.append(_METERED[t.text])
            last = t.pos + len(t.text)
    if not out:
        return source
    out.append(source[last:])
    return "".join(out)


class _Program:
    """A compiled expression plus the facts the cost guard needs."""

    __slots__ = ("expr", "roots", "builds", "plus", "paths", "macros", "literal", "selects")

    def __init__(self, expr: Any, tokens: list[Token]) -> None:
        self.expr = expr
        self.roots = _roots(tokens)

        def method(i: int, t: Token, names: frozenset[str]) -> bool:
            return t.kind == "ident" and t.text in names and i > 0 and tokens[i - 1].text == "."

        self.builds = any(method(i, t, _BUILDING_MACROS) for i, t in enumerate(tokens))
        self.macros = sum(1 for i, t in enumerate(tokens) if method(i, t, _MACROS))
        self.plus = sum(1 for t in tokens if t.text == "+")
        self.paths = paths(tokens)
        #: a bound on the length of any list literal in the expression
        self.literal = 1 + sum(1 for t in tokens if t.text == ",")
        #: `input`, `steps.a.output['x']`: selects a value, builds none
        self.selects = all(
            t.kind in ("ident", "string", "number") or t.text in _SELECT_PUNCT for t in tokens
        ) and not any(t.text == "(" for t in tokens)


def _clean(message: str) -> str:
    """Turn cel-cpp's status text into a sentence (drop status codes and `<input>:`)."""
    msg = re.sub(r"\s*\[[A-Z_]+\]\s*$", "", message.strip())
    msg = re.sub(r"^[A-Z_]+: ", "", msg)
    msg = msg.replace("ERROR: <input>:", "at ").replace("<input>:", "at ")
    msg = re.sub(r" \(in container ''\)", "", msg)
    msg = "\n".join(line for line in msg.splitlines() if not line.startswith(" |")).strip()
    msg = re.sub(r"^at (\d+):(\d+): ", r"at column \2: ", msg)
    msg = re.sub(r'Key not found in map : "(.*)"', r"no such key '\1'", msg)
    msg = re.sub(
        r"No value with name \"(.*)\" found in Activation", r"'\1' is not available here", msg
    )
    for name, metered in _METERED.items():
        msg = msg.replace(metered, name)
    return msg


def _tokens(source: str) -> list[Token]:
    if not isinstance(source, str):
        raise ExpressionError(repr(source), "an expression must be a string")
    if not source.strip():
        raise ExpressionError(source, "empty expression")
    if len(source) > MAX_EXPRESSION_LENGTH:
        raise ExpressionError(
            source, f"longer than {MAX_EXPRESSION_LENGTH} characters ({len(source)})"
        )
    try:
        tokens = tokenize(source)
    except ValueError as e:
        raise ExpressionError(source, f"syntax error: {e}") from None
    replaces = sum(
        1
        for i, t in enumerate(tokens)
        if t.text == "replace" and i > 0 and tokens[i - 1].text == "."
    )
    if replaces > MAX_REPLACE_CALLS:
        raise ExpressionError(
            source,
            f"at most {MAX_REPLACE_CALLS} replace() call per expression (bounds output size)",
        )
    return tokens


@lru_cache(maxsize=2048)
def _compile(source: str, names: frozenset[str]) -> _Program:
    tokens = _tokens(source)
    env = _env(names)
    try:
        with _lock:
            # the source as written, for its error messages (columns), then the metered one
            expr = env.compile(source)
            metered = _metered_source(source, tokens)
            if metered != source:
                expr = env.compile(metered)
    except RuntimeError as e:
        detail = _clean(str(e))
        m = re.search(r"undeclared reference to '([^'.]+)", detail)
        if m and m.group(1) not in names and _used_as_name(tokens, m.group(1)):
            detail = f"unknown name '{m.group(1)}' (names in scope: {', '.join(sorted(names))})"
        raise ExpressionError(source, detail) from None
    return _Program(expr, tokens)


def _used_as_name(tokens: list[Token], name: str) -> bool:
    """`name` appears as a top-level identifier that is not a function call."""
    for i, t in enumerate(tokens):
        if t.text == name and t.kind == "ident" and (i == 0 or tokens[i - 1].text != "."):
            if i + 1 >= len(tokens) or tokens[i + 1].text != "(":
                return True
    return False


def _roots(tokens: list[Token]) -> frozenset[str]:
    """Identifiers used as top-level names (not after a `.`)."""
    return frozenset(
        t.text
        for i, t in enumerate(tokens)
        if t.kind == "ident" and (i == 0 or tokens[i - 1].text != ".")
    )


# ---------------------------------------------------------------- public API


def _convert(value: Any, size: Size, source: str) -> Any:
    try:
        return to_cel(value, size)
    except TypeError as e:
        raise ExpressionError(source, str(e)) from None


def _eval(program: _Program, source: str, data: dict[str, Any]) -> Any:
    try:
        return program.expr.eval(data=data)
    except RuntimeError as e:
        detail = _clean(str(e))
        if "budget" in detail.lower():
            detail = "budget exceeded: more than 10000 comprehension iterations"
        raise ExpressionError(source, detail) from None


def _failed(result: Any) -> bool:
    kind = result.type()
    return bool(kind == cel.Type.ERROR or kind == cel.Type.UNKNOWN)


def evaluate(source: str, scope: Mapping[str, Any]) -> Any:
    """Evaluate one CEL expression against plain data; returns plain, key-sorted Python.

    Raises ExpressionError for syntax errors, unknown names, missing keys, type
    errors, and `BudgetExceeded` for exceeded budgets; the message includes the expression.
    """
    program = _compile(source, frozenset(scope))
    try:
        meter = budget.begin(1 + program.plus if program.builds else 0)
    except budget.Hit as recorded:  # a replay: the history says this evaluation hit a budget
        raise BudgetExceeded(source, recorded.detail) from None
    try:
        return budget.run(meter, lambda: _evaluate(program, source, scope, meter))
    except budget.Hit as hit:
        budget.record(meter, hit)
        raise BudgetExceeded(source, hit.detail) from None


def _growth(program: _Program, data: Mapping[str, Any], largest: int, meter: budget.Meter) -> None:
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


def _evaluate(
    program: _Program, source: str, scope: Mapping[str, Any], meter: budget.Meter
) -> Any:
    names = [name for name in program.roots if name in scope]
    if program.builds or (program.macros and program.plus):
        data = {name: _convert(scope[name], Size(), source) for name in names}
        largest = largest_under(data, program.paths)
        if program.builds:
            meter.elements(largest, "data")
        _growth(program, data, largest, meter)
        result = _eval(program, source, data)
    else:
        # fast path: plain JSON data goes in as it is; convert only when CEL refuses a
        # value (datetime, tuple, model...), which it reports lazily on access
        result = _eval(program, source, {name: scope[name] for name in names})
        if _failed(result) and "Non-CEL value type" in str(result.plain_value()):
            converted = {name: _convert(scope[name], Size(), source) for name in names}
            result = _eval(program, source, converted)
    if meter.hit is not None:  # also when CEL absorbed the error (`x || true`)
        raise meter.hit
    if _failed(result):
        raise ExpressionError(source, _clean(str(result.plain_value())))
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
    _compile(source, frozenset(names))


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
    tokens = _tokens(source)
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
