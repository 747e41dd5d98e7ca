"""Run commands: `run`, `status`, `wait`, `runs`, `pause|resume|cancel`, `inbox`, `decide`, `reassign`."""

from __future__ import annotations

from typing import Annotated

import typer

from cli import render
from cli.app import JsonFlag, api_errors, app, client, err, out, parse_json_arg, print_json
from cli.client import items
from cli.watch import watch


def _tags(values: list[str] | None) -> dict[str, str]:
    tags = {}
    for v in values or []:
        key, sep, val = v.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"{v!r} is not key=value", param_hint="--tag")
        tags[key] = val
    return tags


WaitTimeout = Annotated[
    float | None, typer.Option("--timeout", help="Give up waiting after this many seconds (exit 1).")
]
Interval = Annotated[float, typer.Option("--interval", help="Seconds between status polls.", hidden=True)]


@app.command()
@api_errors
def run(
    template: Annotated[str, typer.Argument(help="Template name in the registry.")],
    input_: Annotated[
        str, typer.Option("--input", "-i", help="Run input: JSON, @file.json|yaml, or @- for stdin.")
    ] = "{}",
    version: Annotated[int | None, typer.Option("--version", help="Template version (default: latest).")] = None,
    run_id: Annotated[str | None, typer.Option("--run-id", help="Run id (default: <template>-<uuid>).")] = None,
    tag: Annotated[list[str] | None, typer.Option("--tag", help="key=value, repeatable.")] = None,
    wait: Annotated[bool, typer.Option("--wait", "-w", help="Watch the steps live until the run closes.")] = False,
    timeout: WaitTimeout = None,
    interval: Interval = 0.5,
    as_json: JsonFlag = False,
) -> None:
    """Start a run. With --wait: exit 0 when it completes, 1 when it fails or is cancelled."""
    body = parse_json_arg(input_, "--input")
    with client() as api:
        started = api.start_run(template, body, version=version, run_id=run_id, tags=_tags(tag))
        if as_json and not wait:
            return print_json(started)
        err.print(f"started {started['run_id']} ({started['template']}@{started['version']})", markup=False)
        if started.get("ui_url"):
            err.print(f"Web UI: {started['ui_url']}", markup=False)
        if not as_json:
            out.print(started["run_id"], markup=False)
        if wait:
            view = err if as_json else out  # keep stdout pure JSON
            code, doc = watch(api, started["run_id"], view, until="closed", timeout=timeout, interval=interval)
            if as_json:
                print_json(doc)
            raise typer.Exit(code)


@app.command()
@api_errors
def status(
    run_id: Annotated[str, typer.Argument(help="Run id.")],
    as_json: JsonFlag = False,
) -> None:
    """Show a run: its steps, who it waits for, and its output or error."""
    with client() as api:
        doc = api.get_run(run_id)
    if as_json:
        return print_json(doc)
    out.print(render.run_view(doc))


@app.command("wait")
@api_errors
def wait_cmd(
    run_id: Annotated[str, typer.Argument(help="Run id.")],
    until: Annotated[
        str, typer.Option("--until", help="closed: the run ended; waiting: a person must act (open approval or paused).")
    ] = "closed",
    timeout: WaitTimeout = None,
    interval: Interval = 0.5,
) -> None:
    """Block until the run closes (exit 0 completed, 1 otherwise) or needs a person (exit 0)."""
    if until not in ("closed", "waiting"):
        raise typer.BadParameter("must be closed or waiting", param_hint="--until")
    with client() as api:
        code, _ = watch(api, run_id, out, until=until, timeout=timeout, interval=interval)
    raise typer.Exit(code)


@app.command()
@api_errors
def runs(
    template: Annotated[str | None, typer.Option("--template", help="Template name.")] = None,
    state: Annotated[str | None, typer.Option("--state", help="running, waiting, paused, completed, failed, …")] = None,
    assignee: Annotated[str | None, typer.Option("--assignee", help="user:<id> or role:<name>.")] = None,
    tag: Annotated[str | None, typer.Option("--tag", help="key:value (or key=value).")] = None,
    started_by: Annotated[str | None, typer.Option("--started-by", help="User id.")] = None,
    limit: Annotated[int, typer.Option("--limit", help="Page size.", min=1, max=1000)] = 50,
    page_token: Annotated[str | None, typer.Option("--page-token", help="From a previous page.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """List runs, newest first."""
    with client() as api:
        body = api.list_runs(
            template=template, state=state, assignee=assignee,
            tag=tag.replace("=", ":", 1) if tag else None, started_by=started_by,
            page_size=limit, next_page_token=page_token,
        )
    if as_json:
        return print_json(body)
    out.print(render.runs_table(items(body, "runs")))
    if isinstance(body, dict) and body.get("next_page_token"):
        err.print(f"more: --page-token {body['next_page_token']}", markup=False)


def _run_action(run_id: str, action: str) -> None:
    with client() as api:
        api.run_action(run_id, action)
    out.print(f"{action} requested for {run_id}", markup=False)


@app.command()
@api_errors
def pause(run_id: str) -> None:
    """Pause a run: running steps finish, nothing new starts until resume."""
    _run_action(run_id, "pause")


@app.command()
@api_errors
def resume(run_id: str) -> None:
    """Resume a paused run (also lets a paused gate pass)."""
    _run_action(run_id, "resume")


@app.command()
@api_errors
def cancel(run_id: str) -> None:
    """Cancel a run; its `run_if: all_done` cleanup steps still run."""
    _run_action(run_id, "cancel")


# -- approvals -----------------------------------------------------------------------------


@app.command()
@api_errors
def inbox(as_json: JsonFlag = False) -> None:
    """Open approvals assigned to you (your user or any of your roles)."""
    with client() as api:
        body = api.inbox()
    if as_json:
        return print_json(body)
    tasks = items(body, "tasks", "approvals")
    if not render.inbox_rows(tasks):
        err.print("inbox is empty")
        return
    out.print(render.inbox_table(tasks))


@app.command()
@api_errors
def decide(
    run_id: Annotated[str | None, typer.Argument(help="Run id.")] = None,
    step: Annotated[
        str | None, typer.Argument(help="Step address, as listed in `pending` / the inbox.")
    ] = None,
    outcome: Annotated[
        str | None, typer.Argument(help="One of the step's outcomes, e.g. approved.")
    ] = None,
    comment: Annotated[str | None, typer.Option("--comment", "-m", help="Why.")] = None,
    data: Annotated[str | None, typer.Option("--data", help="Form data: JSON or @file.")] = None,
    bulk: Annotated[
        str | None,
        typer.Option(
            "--bulk",
            help="A JSON/YAML file (or - for stdin) of decisions: a list of "
            "{run_id, step, outcome, comment?, data?} or {decisions: [...]} (at most 100).",
        ),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Decide an approval step as yourself (or many with --bulk; exit 1 if any is refused)."""
    if bulk is not None:
        if run_id or step or outcome or comment or data:
            raise typer.BadParameter("--bulk takes no RUN_ID/STEP/OUTCOME, --comment or --data")
        return _decide_bulk(bulk, as_json)
    if not (run_id and step and outcome):
        raise typer.BadParameter("give RUN_ID STEP OUTCOME, or --bulk FILE")
    payload = parse_json_arg(data, "--data")
    with client() as api:
        body = api.decide(run_id, step, outcome, comment=comment, data=payload)
    if as_json:
        return print_json(body)
    state = body.get("state") if isinstance(body, dict) else None
    extra = f"; step is now {state}" if state else ""
    out.print(f"{outcome} recorded on {run_id} {step}{extra}", markup=False)


def _decide_bulk(source: str, as_json: bool) -> None:
    loaded = parse_json_arg("@-" if source == "-" else f"@{source}", "--bulk")
    decisions = loaded.get("decisions") if isinstance(loaded, dict) else loaded
    if not isinstance(decisions, list):
        raise typer.BadParameter("expected a list of decisions or {decisions: [...]}", param_hint="--bulk")
    with client() as api:
        body = api.request("POST", "/decisions", json={"decisions": decisions})
    results = body.get("results", []) if isinstance(body, dict) else []
    if as_json:
        print_json(body)
    else:
        out.print(render.bulk_table(results))
    if any(r.get("status") != 200 for r in results):
        raise typer.Exit(1)


@app.command()
@api_errors
def reassign(
    run_id: Annotated[str, typer.Argument(help="Run id.")],
    step: Annotated[str, typer.Argument(help="Step address of the open approval.")],
    user: Annotated[list[str] | None, typer.Option("--user", help="New assignee user id, repeatable.")] = None,
    role: Annotated[list[str] | None, typer.Option("--role", help="New assignee role, repeatable.")] = None,
) -> None:
    """Replace an open approval's assignees (operator/admin, or a current assignee delegating)."""
    if not user and not role:
        raise typer.BadParameter("give at least one --user or --role")
    with client() as api:
        body = api.reassign(run_id, step, users=user, roles=role)
    state = body.get("state") if isinstance(body, dict) else None
    who = ", ".join([f"user:{u}" for u in user or []] + [f"role:{r}" for r in role or []])
    out.print(f"{run_id} {step} reassigned to {who}" + (f"; step is {state}" if state else ""), markup=False)
