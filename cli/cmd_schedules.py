"""`relayflow schedules list|create|delete`: Temporal Schedules through the API."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from cli import render
from cli.app import JsonFlag, api_errors, client, out, parse_json_arg, print_json, schedules_app
from cli.client import items


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
