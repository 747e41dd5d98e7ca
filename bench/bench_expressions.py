"""Micro-benchmark of expression engines for docs/expressions.md.

Run with the project venv for relayflow's own numbers; the alternatives need
`pip install cel-python common-expression-language simpleeval` (a scratch venv is
fine — they are not project dependencies):

    python bench/bench_expressions.py

Each engine evaluates the same three expressions against the same data; times are
the median of 5 rounds of N evaluations of an already compiled expression.
"""

from __future__ import annotations

import statistics
import sys
import timeit
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

DATA: dict[str, Any] = {
    "input": {"amount": 1500, "items": [{"price": p} for p in range(20)]},
    "steps": {"a": {"state": "succeeded", "decision": "approved", "output": {"status": 200}}},
}
EXPRS = {
    "compare": "input.amount > 1000",
    "route": "steps.a.state == 'skipped' || steps.a.decision == 'approved'",
    "filter20": "input.items.filter(i, i.price > 10).size()",
}
N = 2000


def _time(fn: Callable[[], Any]) -> float:
    rounds = timeit.repeat(fn, number=N, repeat=5)
    return statistics.median(rounds) / N * 1e6


def engines() -> dict[str, Callable[[str], Callable[[], Any]]]:
    found: dict[str, Callable[[str], Callable[[], Any]]] = {}
    try:
        from workflows.language.expressions import evaluate

        found["relayflow evaluate (cel-expr-python + conversion)"] = lambda src: (
            lambda: evaluate(src, DATA)
        )
    except ImportError:
        pass
    try:
        from cel_expr_python import cel

        env = cel.NewEnv(variables={"input": cel.Type.DYN, "steps": cel.Type.DYN})

        def raw(src: str) -> Callable[[], Any]:
            expr = env.compile(src)
            return lambda: expr.eval(data=DATA).plain_value()

        found["cel-expr-python 0.1.3 (raw)"] = raw
    except ImportError:
        pass
    try:
        import celpy

        cenv = celpy.Environment()
        activation = {k: celpy.json_to_cel(v) for k, v in DATA.items()}

        def celpython(src: str) -> Callable[[], Any]:
            prog = cenv.program(cenv.compile(src))
            return lambda: prog.evaluate(activation)

        found["cel-python 0.5.0 (pure Python)"] = celpython
    except ImportError:
        pass
    try:
        import cel as rcel  # common-expression-language (Rust)

        def rust(src: str) -> Callable[[], Any]:
            prog = rcel.compile(src)
            ctx = rcel.Context(variables=DATA)
            return lambda: prog.execute(ctx)

        found["common-expression-language 0.10.0 (Rust)"] = rust
    except (ImportError, AttributeError):
        pass
    try:
        from simpleeval import EvalWithCompoundTypes

        py = {
            "compare": "input['amount'] > 1000",
            "route": "steps['a']['state'] == 'skipped' or steps['a']['decision'] == 'approved'",
            "filter20": "len([i for i in input['items'] if i['price'] > 10])",
        }

        def simple(src: str) -> Callable[[], Any]:
            key = next(k for k, v in EXPRS.items() if v == src)
            ev = EvalWithCompoundTypes(names=DATA, functions={"len": len})
            parsed = ev.parse(py[key])
            return lambda: ev.eval(py[key], previously_parsed=parsed)

        found["simpleeval 1.0.8 (Python syntax, not CEL)"] = simple
    except ImportError:
        pass
    return found


def main() -> None:
    rows = []
    for name, make in engines().items():
        cells = []
        for src in EXPRS.values():
            try:
                cells.append(f"{_time(make(src)):.1f}")
            except Exception as e:  # an engine without this feature
                cells.append(f"n/a ({type(e).__name__})")
        rows.append((name, cells))
    sys.stdout.write("| engine | " + " | ".join(EXPRS) + " |\n")
    sys.stdout.write("|---|" + "---|" * len(EXPRS) + "\n")
    for name, cells in rows:
        sys.stdout.write(f"| {name} | " + " | ".join(cells) + " |\n")


if __name__ == "__main__":
    main()
