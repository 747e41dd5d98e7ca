"""How the CLI draws API documents: rich tables for people, plain JSON for scripts.

Everything here is a pure function from an API body to a rich renderable, so the
same views serve `relayflow status`, the live `--wait` view and the listings.
"""

from __future__ import annotations

import json
from typing import Any

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

STATE_STYLE = {
    "pending": "dim", "running": "cyan", "waiting": "yellow", "paused": "yellow",
    "succeeded": "green", "completed": "green", "skipped": "dim", "failed": "red",
    "cancelled": "magenta", "timed_out": "red", "terminated": "red", "held": "bold red",
}
CLOSED = {"completed", "failed", "cancelled", "timed_out", "terminated"}


def state_text(state: str | None) -> Text:
    return Text(state or "-", style=STATE_STYLE.get(state or "", ""))


def short_time(value: Any) -> str:
    """`2026-11-28T18:01:02.123456+00:00` -> `2026-11-28 18:01:02` (input kept if odd)."""
    if not isinstance(value, str) or "T" not in value:
        return "" if value is None else str(value)
    return value.replace("T", " ")[:19]


def compact(value: Any, limit: int = 60) -> str:
    """One-line JSON of a value, cut to `limit` characters for table cells."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def who(assignees: Any) -> str:
    """Assignees as `user:x, role:y` whatever shape the API used."""
    if isinstance(assignees, dict):
        parts = [f"user:{u}" for u in assignees.get("users") or []]
        parts += [f"role:{r}" for r in assignees.get("roles") or []]
        return ", ".join(parts)
    if isinstance(assignees, list):
        return ", ".join(str(a) for a in assignees)
    return "" if assignees is None else str(assignees)


def error_text(error: Any) -> str:
    if isinstance(error, dict):
        return str(error.get("message") or error.get("detail") or compact(error, 200))
    return "" if error is None else str(error)


def new_table(*columns: str) -> Table:
    """A borderless table (readable in a terminal and in a CI log alike)."""
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for col in columns:
        table.add_column(col, overflow="fold")
    return table


def steps_table(doc: dict[str, Any]) -> Table:
    """One row per step: state, attempts, times, decision, and who it waits for."""
    waiting_for = {p.get("step"): who(p.get("assignees")) for p in doc.get("pending") or []}
    table = new_table("step", "state", "attempts", "started", "finished", "decision / waiting for", "error")
    for sid, step in (doc.get("steps") or {}).items():
        step = step or {}
        note = step.get("decision") or ""
        if sid in waiting_for:
            note = f"waiting for {waiting_for[sid]}"
        if step.get("state") == "held":
            note = "held: resolve retry|skip|fail"
        elif step.get("carried"):
            note = f"{note} (carried)".strip()
        if step.get("sla_level"):
            note = f"{note} [sla: {step['sla_level']}]".strip()
        table.add_row(
            sid, state_text(step.get("state")), str(step.get("attempts") or ""),
            short_time(step.get("started_at")), short_time(step.get("finished_at")),
            note, compact(error_text(step.get("error")), 80),
        )
    return table


def pending_table(pending: list[dict[str, Any]]) -> Table:
    table = new_table("step", "assignees", "outcomes", "due")
    for p in pending:
        table.add_row(
            str(p.get("step")), who(p.get("assignees")),
            ", ".join(p.get("outcomes") or []), short_time(p.get("due_at")),
        )
    return table


def header(doc: dict[str, Any]) -> Text:
    t = Text()
    t.append(f"{doc.get('run_id')}  ", style="bold")
    t.append(f"{doc.get('template')}@{doc.get('version')}  ")
    if doc.get("redrive"):
        t.append(f"redrive {doc['redrive']}  ")
    t.append_text(state_text(doc.get("state")))
    t.append(f"  started {short_time(doc.get('started_at'))}")
    if doc.get("closed_at"):
        t.append(f"  closed {short_time(doc.get('closed_at'))}")
    return t


def run_view(doc: dict[str, Any], *, full: bool = True) -> RenderableType:
    """The `status` screen: header, steps, pending approvals, then output or error."""
    parts: list[RenderableType] = [header(doc), steps_table(doc)]
    if doc.get("pending"):
        parts += [Text("\npending decisions", style="bold"), pending_table(doc["pending"])]
    held = held_steps(doc)
    if held:
        parts += [Text("\nheld steps (an operator resolves them)", style="bold red"), held_table(doc["run_id"], held)]
    if full and doc.get("error") is not None:
        title = "error" + (f" (step {doc['failed_step']})" if doc.get("failed_step") else "")
        parts += [Text(f"\n{title}", style="bold red"), Text(error_text(doc["error"]))]
    if full and doc.get("output") is not None:
        parts += [Text("\noutput", style="bold"), Text(json.dumps(doc["output"], indent=2, default=str))]
    return Group(*parts)


def held_steps(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The steps held as incidents (SPEC §9), by address."""
    return {sid: st for sid, st in (doc.get("steps") or {}).items() if (st or {}).get("state") == "held"}


def held_table(run_id: Any, held: dict[str, dict[str, Any]]) -> Table:
    """One row per held step: its incident's error, attempts, and how to resolve it."""
    table = new_table("step", "held since", "attempts", "error", "resolve with")
    for sid, st in held.items():
        incidents = st.get("incidents") or [{}]
        table.add_row(
            sid, short_time(incidents[-1].get("held_at")), str(st.get("attempts") or ""),
            error_text(st.get("error")), f"relayflow resolve {run_id} {sid} retry|skip|fail",
        )
    return table


def runs_table(runs: list[dict[str, Any]]) -> Table:
    table = new_table("run", "template", "state", "started", "closed")
    for r in runs:
        version = r.get("version")
        table.add_row(
            str(r.get("run_id")),
            f"{r.get('template')}@{version}" if version is not None else str(r.get("template") or ""),
            state_text(r.get("state")), short_time(r.get("started_at")), short_time(r.get("closed_at")),
        )
    return table


def inbox_rows(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Flatten `[{run_id, template, version, pending: [task…]}]` into one row per task."""
    rows = []
    for e in entries:
        tasks = e.get("pending")
        if isinstance(tasks, list):
            rows += [{**e, **t} for t in tasks]
        else:
            rows.append(e)
    return rows


def inbox_table(entries: list[dict[str, Any]]) -> Table:
    table = new_table("run", "step", "template", "outcomes", "assignees", "due")
    for t in inbox_rows(entries):
        tpl = t.get("template")
        if tpl and t.get("version") is not None:
            tpl = f"{tpl}@{t['version']}"
        table.add_row(
            str(t.get("run_id")), str(t.get("step")), str(tpl or ""),
            ", ".join(t.get("outcomes") or []), who(t.get("assignees")), short_time(t.get("due_at")),
        )
    return table


def bulk_table(results: list[dict[str, Any]]) -> Table:
    """`relayflow decide --bulk`: one row per decision, as the API answered it."""
    table = new_table("run", "step", "status", "result")
    for r in results:
        ok = r.get("status") == 200
        result = (r.get("decision") or r.get("state") or "recorded") if ok else (r.get("detail") or "")
        table.add_row(str(r.get("run_id")), str(r.get("step")), str(r.get("status")), str(result))
    return table


def _listed(value: Any) -> str:
    return ", ".join(map(str, value)) if isinstance(value, list) else str(value or "")


def schedules_table(schedules: list[dict[str, Any]]) -> Table:
    table = new_table("id", "template", "spec", "timezone", "paused", "next run")
    for s in schedules:
        tpl = s.get("template")
        if tpl and s.get("version") is not None:
            tpl = f"{tpl}@{s['version']}"
        cron, every = _listed(s.get("cron")), _listed(s.get("interval"))
        spec = cron or (f"every {every}" if every else "")
        nxt = s.get("next_run") or s.get("next_action_times") or ""
        if isinstance(nxt, list):
            nxt = nxt[0] if nxt else ""
        table.add_row(
            str(s.get("id")), str(tpl or ""), str(spec), str(s.get("timezone") or ""),
            "yes" if s.get("paused") else "no", short_time(nxt),
        )
    return table


def step_changes(before: dict[str, Any] | None, after: dict[str, Any]) -> list[str]:
    """Plain lines for what changed between two status documents (non-terminal `--wait`).

    A state change prints `step: state` (with the decision, or the error of a failed
    step); a new attempt of a running step prints `step: running (attempt n)`.
    """
    old = (before or {}).get("steps") or {}
    lines = []
    if before is None or before.get("state") != after.get("state"):
        lines.append(f"run {after.get('run_id')}: {after.get('state')}")
    for sid, step in (after.get("steps") or {}).items():
        step = step or {}
        prev = old.get(sid) or {}
        state = step.get("state")
        if state != prev.get("state") and not (before is None and state == "pending"):
            extra = f" ({step['decision']})" if step.get("decision") else ""
            if state in ("failed", "held") and step.get("error") is not None:
                extra = f" — {compact(error_text(step['error']), 160)}"
            lines.append(f"{sid}: {state}{extra}")
        elif state == "running" and (step.get("attempts") or 0) > max(prev.get("attempts") or 1, 1):
            lines.append(f"{sid}: running (attempt {step['attempts']})")
    return lines
