"""`relayflow`: validate and draw templates offline, push them, start and watch runs, decide.

The commands are thin: offline ones call `cli.offline`, online ones call the HTTP API
through `cli.client.ApiClient` and draw with `cli.render`. Exit codes are part of
the interface (scripts and CI rely on them), see `EXIT_CODES`.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from cli import render
from cli.client import DEFAULT_API, ApiClient, ApiError, items
from cli.offline import Problem, check_files, fmt_of, mermaid, place
from cli.watch import watch

OK, FAILED, USAGE, API_ERROR = 0, 1, 2, 3
EXIT_CODES = (
    "Exit codes: 0 ok; 1 failure (validation findings, a run that ended failed/cancelled, "
    "a wait that timed out); 2 usage error (bad flags or arguments, unreadable --input); "
    "3 API or connection error (the API's error code and detail are printed)."
)

app = typer.Typer(
    help="relayflow: run workflow templates on Temporal from the command line.\n\n"
    "Online commands talk to the API at --api / $RELAYFLOW_API "
    f"(default {DEFAULT_API}) with the bearer token --token / $RELAYFLOW_TOKEN.",
    epilog=EXIT_CODES,
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    pretty_exceptions_show_locals=False,
)
templates_app = typer.Typer(help="Push and list templates in the registry.", no_args_is_help=True)
schedules_app = typer.Typer(help="Temporal Schedules that start runs (cron or interval).", no_args_is_help=True)
app.add_typer(templates_app, name="templates")
app.add_typer(schedules_app, name="schedules")

# piped output (CI logs, grep) gets wide lines instead of 80-column folding
out = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() or "COLUMNS" in os.environ else 200,
)
err = Console(stderr=True, highlight=False, soft_wrap=True)
F = TypeVar("F", bound=Callable[..., Any])


class _State:
    api: str | None = None
    token: str | None = None


STATE = _State()


@app.callback()
def _root(
    api: Annotated[str, typer.Option("--api", envvar="RELAYFLOW_API", help="API base URL.")] = DEFAULT_API,
    token: Annotated[
        str | None, typer.Option("--token", envvar="RELAYFLOW_TOKEN", help="Bearer token (see the directory file).")
    ] = None,
) -> None:
    STATE.api, STATE.token = api, token


def client() -> ApiClient:
    return ApiClient(STATE.api, STATE.token)


def api_errors(fn: F) -> F:
    """Turn an ApiError into a readable message on stderr and exit code 3."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ApiError as e:
            status = f" (HTTP {e.status})" if e.status else ""
            err.print(f"error: {e.error}{status}: {e.detail}", markup=False)
            for item in e.errors:
                err.print(f"  {item.get('loc', '')}: {item.get('msg', '')}", markup=False)
            raise typer.Exit(API_ERROR) from None

    return wrapper  # type: ignore[return-value]


def parse_json_arg(value: str | None, what: str) -> Any:
    """`--input`/`--data`: inline JSON, `@file` (JSON or YAML) or `@-` (stdin)."""
    if value is None:
        return None
    text = value
    if value.startswith("@"):
        src = value[1:]
        try:
            text = sys.stdin.read() if src == "-" else Path(src).read_text(encoding="utf-8")
        except OSError as e:
            raise typer.BadParameter(f"cannot read {src}: {e.strerror}", param_hint=what) from None
        if src.endswith((".yaml", ".yml")):
            import yaml

            try:
                return yaml.safe_load(text)
            except yaml.YAMLError as e:
                raise typer.BadParameter(f"{src} is not valid YAML: {e}", param_hint=what) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise typer.BadParameter(f"not valid JSON ({e.msg}, column {e.colno})", param_hint=what) from None


def print_json(body: Any) -> None:
    typer.echo(json.dumps(body, indent=2, sort_keys=True, default=str))


def show_problems(problems: list[Problem]) -> None:
    for p in problems:
        typer.echo(str(p))


JsonFlag = Annotated[bool, typer.Option("--json", help="Print the API's JSON instead of tables.")]


# -- offline -------------------------------------------------------------------------------


@app.command()
def validate(
    files: Annotated[list[Path], typer.Argument(help="Template files (.yaml, .yml, .json).", exists=True, dir_okay=False)],
) -> None:
    """Validate templates offline, exactly as the API would (exit 1 on findings).

    Prints `file:line: loc: message` per finding. `subflow` targets are looked up
    among the given files and their directories.
    """
    problems = check_files(list(files))
    show_problems(problems)
    if problems:
        err.print(f"{len(problems)} finding(s) in {len({p.file for p in problems})} file(s)")
        raise typer.Exit(FAILED)
    err.print(f"{len(files)} template(s) valid")


@app.command()
def graph(file: Annotated[Path, typer.Argument(exists=True, dir_okay=False)]) -> None:
    """Print the template's step DAG as Mermaid (paste into Markdown or mermaid.live)."""
    text, problems = mermaid(file)
    if text is None:
        show_problems(problems)
        raise typer.Exit(FAILED)
    typer.echo(text.rstrip("\n"))


# -- templates -----------------------------------------------------------------------------


def _template_files(paths: list[Path]) -> list[Path]:
    found: list[Path] = []
    for p in paths:
        if p.is_dir():
            found += sorted(q for q in p.iterdir() if q.suffix.lower() in (".yaml", ".yml", ".json"))
        else:
            found.append(p)
    return found


@templates_app.command("push")
@api_errors
def templates_push(
    paths: Annotated[list[Path], typer.Argument(help="Directories (their *.yaml/*.yml/*.json) or files.", exists=True)],
) -> None:
    """Save every template file as a new version; prints `name@version` per file."""
    files = _template_files(list(paths))
    if not files:
        err.print("no *.yaml, *.yml or *.json files found")
        raise typer.Exit(FAILED)
    failed = 0
    with client() as api:
        for f in files:
            text = f.read_text(encoding="utf-8")
            try:
                saved = api.save_template(text, fmt_of(f))
            except ApiError as e:
                if e.status != 422:
                    raise
                failed += 1
                show_problems(place(str(f), text, e.errors) or [Problem(str(f), None, "", e.detail)])
                continue
            out.print(f"{saved['name']}@{saved['version']}  ({f})", markup=False)
    if failed:
        err.print(f"{failed} of {len(files)} file(s) rejected")
        raise typer.Exit(FAILED)


@templates_app.command("list")
@api_errors
def templates_list(as_json: JsonFlag = False) -> None:
    """List the registry's templates with their latest version."""
    with client() as api:
        body = api.list_templates()
    if as_json:
        return print_json(body)
    for t in items(body, "templates"):
        if isinstance(t, dict):
            desc = f"  {t['description']}" if t.get("description") else ""
            out.print(f"{t.get('name')}@{t.get('version') or t.get('latest_version')}{desc}", markup=False)
        else:
            out.print(str(t), markup=False)


# -- runs ----------------------------------------------------------------------------------


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
            code, doc = watch(api, started["run_id"], out, until="closed", timeout=timeout, interval=interval)
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
        str, typer.Option("--until", help="closed: the run ended; waiting: a person must decide.")
    ] = "closed",
    timeout: WaitTimeout = None,
    interval: Interval = 0.5,
) -> None:
    """Block until the run closes (exit 0 completed, 1 otherwise) or waits for a decision."""
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
    run_id: Annotated[str, typer.Argument(help="Run id.")],
    step: Annotated[str, typer.Argument(help="Step address, as listed in `pending` / the inbox.")],
    outcome: Annotated[str, typer.Argument(help="One of the step's outcomes, e.g. approved.")],
    comment: Annotated[str | None, typer.Option("--comment", "-m", help="Why.")] = None,
    data: Annotated[str | None, typer.Option("--data", help="Form data: JSON or @file.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Decide an approval step as yourself."""
    payload = parse_json_arg(data, "--data")
    with client() as api:
        body = api.decide(run_id, step, outcome, comment=comment, data=payload)
    if as_json:
        return print_json(body)
    state = body.get("state") if isinstance(body, dict) else None
    extra = f"; step is now {state}" if state else ""
    out.print(f"{outcome} recorded on {run_id} {step}{extra}", markup=False)


# -- schedules -----------------------------------------------------------------------------


@schedules_app.command("list")
@api_errors
def schedules_list(as_json: JsonFlag = False) -> None:
    """List schedules."""
    with client() as api:
        body = api.list_schedules()
    if as_json:
        return print_json(body)
    out.print(render.schedules_table(items(body, "schedules")))


@schedules_app.command("create")
@api_errors
def schedules_create(
    schedule_id: Annotated[str, typer.Argument(help="Schedule id; its runs are <id>-<timestamp>.")],
    template: Annotated[str, typer.Option("--template", help="Template name.")],
    input_: Annotated[str, typer.Option("--input", "-i", help="Run input: JSON or @file.")] = "{}",
    cron: Annotated[str | None, typer.Option("--cron", help="Cron expression, e.g. '0 9 * * MON-FRI'.")] = None,
    every: Annotated[str | None, typer.Option("--interval", help="Interval, e.g. 15m or 1h.")] = None,
    timezone: Annotated[str | None, typer.Option("--timezone", help="IANA zone for cron.")] = None,
    version: Annotated[int | None, typer.Option("--version", help="Template version (default: latest).")] = None,
    paused: Annotated[bool, typer.Option("--paused", help="Create paused.")] = False,
) -> None:
    """Create a schedule (exactly one of --cron or --interval)."""
    if (cron is None) == (every is None):
        raise typer.BadParameter("give exactly one of --cron or --interval")
    body: dict[str, Any] = {
        "id": schedule_id, "template": template, "input": parse_json_arg(input_, "--input"),
        "paused": paused,
    }
    for key, value in (("cron", cron), ("interval", every), ("timezone", timezone), ("version", version)):
        if value is not None:
            body[key] = value
    with client() as api:
        api.create_schedule(body)
    out.print(f"schedule {schedule_id} created", markup=False)


@schedules_app.command("delete")
@api_errors
def schedules_delete(schedule_id: Annotated[str, typer.Argument(help="Schedule id.")]) -> None:
    """Delete a schedule (runs it already started go on)."""
    with client() as api:
        api.delete_schedule(schedule_id)
    out.print(f"schedule {schedule_id} deleted", markup=False)


if __name__ == "__main__":
    app()
