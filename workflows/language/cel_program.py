"""Compiling and running CEL programs: the boundary to cel-cpp (`cel-expr-python`).

`workflows.language.expressions` is the interface templates use; this module holds
what touches the C++ extension: the environment (extensions plus the metered string
functions of `workflows.language.cel_budget`), the LRU cache of compiled programs
(a pure function of the source, so deterministic inside the workflow sandbox), the
facts about a program the cost guard needs, and cel-cpp's error text turned into
sentences.
"""

from __future__ import annotations

import re
import threading
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
from workflows.language.cel_lex import Token, paths, tokenize
from workflows.language.expression_errors import ExpressionError

MAX_EXPRESSION_LENGTH = 4096
MAX_REPLACE_CALLS = 1
_BUILDING_MACROS = frozenset(
    {"map", "filter", "transformList", "transformMap", "transformMapEntry"}
)
_MACROS = _BUILDING_MACROS | {"all", "exists", "exists_one", "existsOne"}
#: string functions that run metered (see workflows.language.cel_budget): source name -> CEL name
_METERED = {"replace": "_rf_replace", "split": "_rf_split", "join": "_rf_join"}
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
        "_rf_split": [
            (texts, [text, text], budget.split),
            (texts, [text, text, num], budget.split),
        ],
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


class Program:
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


def clean(message: str) -> str:
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


def tokens_of(source: str) -> list[Token]:
    """The tokens of an expression, after the checks that need no compiler (length, replace())."""
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
def compiled(source: str, names: frozenset[str]) -> Program:
    """The program for `source` with `names` in scope (cached); ExpressionError if it does not compile."""
    tokens = tokens_of(source)
    env = _env(names)
    try:
        with _lock:
            # the source as written, for its error messages (columns), then the metered one
            expr = env.compile(source)
            metered = _metered_source(source, tokens)
            if metered != source:
                expr = env.compile(metered)
    except RuntimeError as e:
        detail = clean(str(e))
        m = re.search(r"undeclared reference to '([^'.]+)", detail)
        if m and m.group(1) not in names and _used_as_name(tokens, m.group(1)):
            detail = f"unknown name '{m.group(1)}' (names in scope: {', '.join(sorted(names))})"
        raise ExpressionError(source, detail) from None
    return Program(expr, tokens)


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


def execute(program: Program, source: str, data: dict[str, Any]) -> Any:
    """Evaluate a compiled program against CEL-ready data (a failed result is returned)."""
    try:
        return program.expr.eval(data=data)
    except RuntimeError as e:
        detail = clean(str(e))
        if "budget" in detail.lower():
            detail = "budget exceeded: more than 10000 comprehension iterations"
        raise ExpressionError(source, detail) from None


def failed(result: Any) -> bool:
    """The evaluation ended in a CEL error or unknown (read it with `result.plain_value()`)."""
    kind = result.type()
    return bool(kind == cel.Type.ERROR or kind == cel.Type.UNKNOWN)
