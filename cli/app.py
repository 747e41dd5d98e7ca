"""The `relayflow` typer app and what every command shares: consoles, the API client
from global flags, the ApiError -> exit 3 decorator, JSON arguments and exit codes."""

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

from cli.client import DEFAULT_API, ApiClient, ApiError
from cli.offline import Problem

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
_WIDTH = None if sys.stdout.isatty() or "COLUMNS" in os.environ else 200
out = Console(highlight=False, soft_wrap=True, width=_WIDTH)
err = Console(stderr=True, highlight=False, soft_wrap=True)
F = TypeVar("F", bound=Callable[..., Any])


class _State:
    api: str | None = None
    token: str | None = None


STATE = _State()


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            typer.echo(f"relayflow {version('relayflow')}")
        except PackageNotFoundError:
            typer.echo("relayflow (not installed)")
        raise typer.Exit()


@app.callback()
def _root(
    api: Annotated[str, typer.Option("--api", envvar="RELAYFLOW_API", help="API base URL.")] = DEFAULT_API,
    token: Annotated[
        str | None, typer.Option("--token", envvar="RELAYFLOW_TOKEN", help="Bearer token (see the directory file).")
    ] = None,
    _: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
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
