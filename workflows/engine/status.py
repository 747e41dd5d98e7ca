"""The run status document (SPEC §5) and the Web UI's current-details markdown table.

Both read a run through `RunView`, the few things they need of the runtime.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from temporalio import workflow

from workflows.engine.io import PendingTask, RunInput, RunStatus
from workflows.engine.statuses import Statuses
from workflows.language.compiler import CompiledTemplate

MAX_DETAIL = 80


@dataclass
class DetailsBoard:
    """The Web UI's current-details table of one run: cached rows, what changed since
    the last render, and whether a render is already due in this workflow task."""

    rows: dict[str, str] = field(default_factory=dict)
    #: top-level steps whose row must be redone at the next render
    stale: set[str] = field(default_factory=set)
    scheduled: bool = False


class RunView(Protocol):
    run_id: str
    inp: RunInput
    plan: CompiledTemplate
    started_at: datetime
    closed_at: datetime | None
    statuses: Statuses
    kinds: dict[str, str]
    details: dict[str, str]
    board: DetailsBoard
    output: Any
    error: str | None
    failed_step: str | None
    sla_level: str | None

    def run_state(self) -> str: ...

    def open_tasks(self) -> list[PendingTask]: ...


def document(rt: RunView) -> RunStatus:
    return RunStatus(
        run_id=rt.run_id,
        template=rt.plan.name,
        version=rt.plan.version,
        state=rt.run_state(),
        started_at=rt.started_at,
        closed_at=rt.closed_at,
        steps=rt.statuses.snapshot(),
        pending=rt.open_tasks(),
        output=rt.output,
        error=rt.error,
        sla_level=rt.sla_level,
        failed_step=rt.failed_step,
        redrive=rt.inp.redrive.count if rt.inp.redrive is not None else 0,
    )


def _cell(text: str) -> str:
    text = " ".join(text.split()).replace("|", "\\|")
    return text if len(text) <= MAX_DETAIL else text[: MAX_DETAIL - 1] + "…"


def row(rt: RunView, step_id: str) -> str:
    st = rt.statuses.peek(step_id)
    detail = rt.details.get(step_id, "")
    if st.error:
        detail = st.error
    elif st.decision:
        detail = f"decision: {st.decision}"
    elif not detail and st.attempts and st.attempts > 1:
        detail = f"{st.attempts} attempts"
    return f"| {step_id} | {rt.kinds[step_id]} | {st.state} | {_cell(detail)} |"


def details(rt: RunView) -> str:
    """Markdown: run state, then one row per top-level step (bodies summarised in `detail`).

    Rows are cached on the run's `DetailsBoard`; only the stale ones are redone.
    """
    board = rt.board
    rows = board.rows
    if not rows:
        rows.update((s.id, row(rt, s.id)) for s in rt.plan.template.steps)
    else:
        for step_id in board.stale:
            if step_id in rows:
                rows[step_id] = row(rt, step_id)
    board.stale.clear()
    head = f"**{rt.plan.name}@{rt.plan.version}** — {rt.run_state()}"
    if rt.inp.redrive is not None:
        head += f" · redrive {rt.inp.redrive.count}"
    return "\n".join(
        [head, "", "| step | kind | state | detail |", "|---|---|---|---|", *rows.values()]
    )


def publish_details(rt: RunView, changed: str | None = None) -> None:
    """Refresh the table `workflow.set_current_details` shows (no history event).

    `changed`: the top-level step whose row changed (None: only the head). The render
    happens once, after everything else this workflow task runs (a callback on the
    workflow's event loop): a step finishing and the next one starting in one task cost
    one render, not two. Queries run in tasks of their own, so they never see it stale.
    """
    board = rt.board
    if changed is not None:
        board.stale.add(changed)
    if board.scheduled:
        return
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:  # not on the workflow's loop (never in a run): render now
        workflow.set_current_details(details(rt))
        return
    board.scheduled = True
    loop.call_soon(_render, rt)


def _render(rt: RunView) -> None:
    rt.board.scheduled = False
    workflow.set_current_details(details(rt))
