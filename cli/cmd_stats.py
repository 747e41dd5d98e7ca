"""Analytics and audit commands: `stats [TEMPLATE] [--since 7d]`, `audit RUN [--csv]`."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.console import Group
from rich.table import Table
from rich.text import Text

from cli import render
from cli.app import JsonFlag, api_errors, app, client, out, print_json

SPARKS = "▁▂▃▄▅▆▇█"


def sparkline(counts: list[int]) -> str:
    """One character per day, the tallest bar for the busiest day (a space for none)."""
    top = max(counts, default=0)
    if top == 0:
        return " " * len(counts)
    return "".join(" " if c == 0 else SPARKS[round((c / top) * (len(SPARKS) - 1))] for c in counts)


def _pct(value: Any) -> str:
    return "" if value is None else f"{value * 100:.1f}%"


def _secs(value: Any) -> str:
    """Seconds as a short human duration: 0.42s, 12.0s, 3.5m, 2.1h, 1.5d."""
    if value is None:
        return ""
    v = float(value)
    for limit, unit, div in ((60, "s", 1), (3600, "m", 60), (86400, "h", 3600)):
        if v < limit:
            return f"{v / div:.2f}{unit}" if unit == "s" and v < 10 else f"{v / div:.1f}{unit}"
    return f"{v / 86400:.1f}d"


def _days(t: dict[str, Any]) -> list[int]:
    return [int(d.get("runs", 0)) for d in t.get("runs_per_day") or []]


def templates_table(rows: list[dict[str, Any]], since: str) -> Table:
    table = render.new_table(
        "template", "runs", "completed", "failed", "cancelled", "open", "success",
        "p50", "p95", f"runs/day ({since})",
    )
    for t in rows:
        table.add_row(
            t["template"], str(t["runs"]), str(t["completed"]), str(t["failed"]),
            str(t["cancelled"]), str(t["open"]), _pct(t.get("success_rate")),
            _secs(t.get("duration_p50_s")), _secs(t.get("duration_p95_s")),
            Text(sparkline(_days(t)), style="cyan"),
        )
    return table


def detail_view(t: dict[str, Any], since: str) -> Group:
    parts: list[Any] = [templates_table([t], since)]
    steps = render.new_table("step", "kind", "runs", "succeeded", "failed", "skipped", "retries", "p50", "p95")
    for s in t.get("steps") or []:
        steps.add_row(
            s["step"], s["kind"], str(s["runs"]), str(s["succeeded"]), str(s["failed"]),
            str(s["skipped"]), str(s["retries"]), _secs(s.get("duration_p50_s")),
            _secs(s.get("duration_p95_s")),
        )
    parts += [Text("\nsteps", style="bold"), steps]
    if t.get("approvals"):
        appr = render.new_table("approval", "decisions", "p50", "p95", "by outcome", "by actor")
        for a in t["approvals"]:
            appr.add_row(
                a["step"], str(a["decisions"]), _secs(a.get("turnaround_p50_s")),
                _secs(a.get("turnaround_p95_s")), _counts(a.get("by_outcome")),
                _counts(a.get("by_actor")),
            )
        parts += [Text("\napprovals (turnaround)", style="bold"), appr]
    if t.get("sla"):
        sla = render.new_table("step", "SLA level", "fired")
        for s in t["sla"]:
            sla.add_row(s["step"], s["level"], str(s["fired"]))
        parts += [Text("\nSLA levels fired", style="bold"), sla]
    if t.get("top_errors"):
        errs = render.new_table("step", "error", "count")
        for e in t["top_errors"]:
            errs.add_row(e["step"], render.compact(e["error"], 100), str(e["count"]))
        parts += [Text("\ntop errors", style="bold"), errs]
    return Group(*parts)


def _counts(mapping: Any) -> str:
    if not isinstance(mapping, dict):
        return ""
    return ", ".join(f"{k} {v}" for k, v in sorted(mapping.items(), key=lambda kv: -kv[1]))


def audit_table(events: list[dict[str, Any]]) -> Table:
    table = render.new_table("at", "event", "step", "actor", "detail")
    for e in events:
        table.add_row(
            render.short_time(e.get("at")), e.get("kind", ""), e.get("step") or "",
            e.get("actor") or "", render.compact(e.get("detail") or None, 90),
        )
    return table


Since = Annotated[str, typer.Option("--since", help="Window: runs closed in the last 7d, 12h, 30m…")]


@app.command()
@api_errors
def stats(
    template: Annotated[str | None, typer.Argument(help="One template in detail (default: all).")] = None,
    since: Since = "7d",
    as_json: JsonFlag = False,
) -> None:
    """How templates are doing: runs, success rate, durations; with TEMPLATE, its steps,
    approval turnarounds, SLA levels fired and top errors."""
    with client() as api:
        body = api.analytics_template(template, since) if template else api.analytics_templates(since)
    if as_json:
        return print_json(body)
    if template:
        out.print(detail_view(body, since))
    elif body:
        out.print(templates_table(body, since))
    else:
        out.print(f"no runs closed in the last {since}", markup=False)


@app.command()
@api_errors
def audit(
    run_id: Annotated[str, typer.Argument(help="Run id.")],
    as_csv: Annotated[bool, typer.Option("--csv", help="Print the CSV export.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Who did what in a run, in time order: start, steps, approvals, decisions, SLA levels,
    pause / resume / cancel."""
    with client() as api:
        body = api.audit(run_id, csv=as_csv)
    if as_csv:
        typer.echo(body, nl=False)
    elif as_json:
        print_json(body)
    else:
        out.print(audit_table(body.get("events") or []))
