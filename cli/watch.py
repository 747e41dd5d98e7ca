"""Polling a run until it closes or waits for a person: the `--wait` live view and `relayflow wait`.

On a terminal the steps table redraws in place (rich Live); otherwise (CI logs,
pipes) each step state change is printed once as a plain line.
"""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console
from rich.live import Live

from cli import render
from cli.client import ApiClient, ApiError

MAX_TRANSIENT = 10  # consecutive 5xx answers (query timeouts while a worker restarts) tolerated


def reached(doc: dict[str, Any], until: str) -> bool:
    state = doc.get("state")
    if state in render.CLOSED:
        return True
    # "waiting": a person must act — an open approval, a paused run to resume, a held step
    return until == "waiting" and (
        state in ("waiting", "paused", "held") or bool(doc.get("pending"))
    )


def exit_code(doc: dict[str, Any], until: str, console: Console) -> int:
    """0 when the awaited condition holds (a completed run for `closed`), else 1."""
    state = doc.get("state")
    if until == "waiting" and state not in render.CLOSED:
        return 0
    if state != "completed" and doc.get("error") is not None:
        console.print(f"error: {render.error_text(doc['error'])}", markup=False)
    if until == "waiting":
        console.print(f"run {doc.get('run_id')} closed ({state}) without waiting for anyone", markup=False)
        return 1
    return 0 if state == "completed" else 1


def _poll(api: ApiClient, run_id: str, strikes: list[int]) -> dict[str, Any] | None:
    try:
        doc = api.get_run(run_id)
    except ApiError as e:
        if e.status is not None and e.status >= 500 and strikes[0] < MAX_TRANSIENT:
            strikes[0] += 1
            return None
        raise
    strikes[0] = 0
    return doc


def watch(
    api: ApiClient,
    run_id: str,
    console: Console,
    *,
    until: str = "closed",
    timeout: float | None = None,
    interval: float = 0.5,
) -> tuple[int, dict[str, Any]]:
    """Poll `GET /runs/{id}` until `until` holds; (exit code, last status document)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    strikes = [0]
    doc: dict[str, Any] | None = None
    live = Live(console=console, auto_refresh=False, transient=True) if console.is_terminal else None
    try:
        if live:
            live.start()
        while True:
            new = _poll(api, run_id, strikes)
            if new is not None:
                if live:
                    live.update(render.run_view(new, full=False), refresh=True)
                else:
                    for line in render.step_changes(doc, new):
                        console.print(line, markup=False)
                doc = new
                if reached(doc, until):
                    break
            if deadline is not None and time.monotonic() >= deadline:
                if live:
                    live.stop()
                    live = None
                console.print(f"timed out after {timeout:g}s waiting for {run_id} ({until})", markup=False)
                return 1, doc or {}
            time.sleep(interval)
    finally:
        if live:
            live.stop()
    if console.is_terminal:
        console.print(render.run_view(doc))
    return exit_code(doc, until, console), doc
