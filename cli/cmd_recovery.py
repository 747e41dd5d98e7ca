"""Recovery commands (SPEC §9): `redrive` a run that ended badly, `resolve` a held step."""

from __future__ import annotations

from typing import Annotated

import typer

from cli.app import JsonFlag, api_errors, app, client, err, out, parse_json_arg, print_json
from cli.watch import watch


@app.command()
@api_errors
def redrive(
    run_id: Annotated[str, typer.Argument(help="Run id of a failed, cancelled, timed-out or terminated run.")],
    version: Annotated[
        int | None, typer.Option("--version", help="A later version of the run's template.")
    ] = None,
    wait: Annotated[bool, typer.Option("--wait", "-w", help="Watch the steps live until the run closes.")] = False,
    timeout: Annotated[
        float | None, typer.Option("--timeout", help="Give up waiting after this many seconds (exit 1).")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Run it again under the same id: steps that succeeded keep their outputs and do not
    run again. With --wait: exit 0 when it completes, 1 otherwise."""
    with client() as api:
        body = api.redrive(run_id, version)
        if as_json and not wait:
            return print_json(body)
        err.print(f"redriven {run_id} (redrive {body['redrive']}, version {body['version']})", markup=False)
        if wait:
            view = err if as_json else out
            code, doc = watch(api, run_id, view, until="closed", timeout=timeout)
            if as_json:
                print_json(doc)
            raise typer.Exit(code)


@app.command()
@api_errors
def resolve(
    run_id: Annotated[str, typer.Argument(help="Run id.")],
    step: Annotated[str, typer.Argument(help="Address of the held step (as `relayflow status` lists it).")],
    action: Annotated[str, typer.Argument(help="retry, skip or fail.")],
    with_: Annotated[
        str | None,
        typer.Option("--with", help="retry: JSON (or @file) of `with:` keys to override for that retry."),
    ] = None,
    output: Annotated[
        str | None, typer.Option("--output", help="skip: the step's output, JSON (or @file).")
    ] = None,
    comment: Annotated[str | None, typer.Option("--comment", "-m", help="Why.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Resolve a held step (operator/admin): retry it, skip it with an output, or fail it."""
    if action not in ("retry", "skip", "fail"):
        raise typer.BadParameter("must be retry, skip or fail", param_hint="ACTION")
    patch = parse_json_arg(with_, "--with")
    if patch is not None and not isinstance(patch, dict):
        raise typer.BadParameter("expected a JSON object", param_hint="--with")
    value = parse_json_arg(output, "--output")
    with client() as api:
        body = api.resolve(run_id, step, action, with_=patch, output=value, comment=comment)
    if as_json:
        return print_json(body)
    state = body.get("state") if isinstance(body, dict) else None
    out.print(f"{action} recorded on {run_id} {step}" + (f"; step is now {state}" if state else ""), markup=False)
