"""`relayflow test TEMPLATE CASES.yaml`: run a file of template test cases (SPEC §13).

Each case is one `POST /templates/{name}/test` (mocks, scripted decisions, nothing real
happens); its result is compared with the case's `expect` (`cli.template_cases`). Prints
a table and, for every failing case, one line per difference. Exit 0 when every case
passes, 1 when one does not (a mismatch, or the API refused the case, e.g. an unmocked
action step: 422), 2 for an unusable case file, 3 when the API cannot be used at all.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from cli import render
from cli.app import FAILED, USAGE, JsonFlag, api_errors, app, client, err, out, print_json
from cli.client import ApiError
from cli.template_cases import Case, CaseFileError, compare, load

#: API answers that end the command (exit 3): nothing else would work either
FATAL = (None, 401, 403, 404, 503)


def _run(template: str, version: int | None, case: Case) -> dict[str, Any]:
    with client() as api:
        try:
            result = api.test_template(template, case.body, version)
        except ApiError as e:
            if e.status in FATAL:
                raise
            problems = [f"{i.get('loc', '')}: {i.get('msg', '')}" for i in e.errors]
            return {"case": case.name, "passed": False, "error": f"{e.error}: {e.detail}",
                    "diffs": problems, "state": None, "duration_ms": None}
    diffs = compare(case.expect, result)
    return {"case": case.name, "passed": not diffs, "diffs": diffs, "state": result.get("state"),
            "duration_ms": result.get("duration_ms"), "run_id": result.get("run_id"),
            "result": result}


@app.command("test")
@api_errors
def test(
    template: Annotated[str, typer.Argument(help="The template's name in the registry.")],
    cases: Annotated[Path, typer.Argument(help="A case file (YAML or JSON).", exists=True, dir_okay=False)],
    version: Annotated[int | None, typer.Option("--version", min=1, help="Test this version (default: the latest).")] = None,
    only: Annotated[str | None, typer.Option("--case", help="Run only the case with this name.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Run template test cases: mocked actions, scripted decisions, no side effects.

    Needs role designer or admin. Exit 1 when a case does not meet its expectations."""
    try:
        loaded = load(cases)
    except CaseFileError as e:
        err.print(f"error: {e}", markup=False)
        raise typer.Exit(USAGE) from None
    if loaded.template and loaded.template != template:
        err.print(f"note: {cases} was written for {loaded.template!r}; testing {template!r}", markup=False)
    todo = [c for c in loaded.cases if only is None or c.name == only]
    if not todo:
        err.print(f"error: no case named {only!r} in {cases}", markup=False)
        raise typer.Exit(USAGE)
    results = [_run(template, version, c) for c in todo]
    failed = [r for r in results if not r["passed"]]
    if as_json:
        print_json([{k: v for k, v in r.items() if k != "result"} for r in results])
    else:
        _show(template, results, failed)
    if failed:
        raise typer.Exit(FAILED)


def _show(template: str, results: list[dict[str, Any]], failed: list[dict[str, Any]]) -> None:
    table = Table(title=f"{template}: {len(results)} case(s)", title_justify="left")
    for col in ("case", "state", "time", "result"):
        table.add_column(col, justify="right" if col == "time" else "left")
    for r in results:
        verdict = Text("pass", style="green") if r["passed"] else Text(
            "ERROR" if "error" in r else "FAIL", style="bold red")
        ms = r.get("duration_ms")
        table.add_row(r["case"], render.state_text(r["state"]), "" if ms is None else f"{ms} ms", verdict)
    out.print(table)
    for r in failed:
        out.print(Text(f"\nFAIL {r['case']}", style="bold red"))
        if "error" in r:
            out.print(f"  the API refused the case: {r['error']}", markup=False)
        for line in r["diffs"]:
            out.print(f"  {line}", markup=False)
    passed = len(results) - len(failed)
    out.print(f"\n{passed} passed, {len(failed)} failed", markup=False)
