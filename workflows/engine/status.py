"""The run status document (SPEC §5) and the Web UI's current-details markdown table.

Both read a run through `RunView`, the few things they need of the runtime.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from temporalio import workflow

from workflows.engine.io import PendingTask, RunInput, RunStatus
from workflows.engine.statuses import Statuses
from workflows.language.compiler import CompiledTemplate

MAX_DETAIL = 80


class RunView(Protocol):
    run_id: str
    inp: RunInput
    plan: CompiledTemplate
    started_at: datetime
    closed_at: datetime | None
    statuses: Statuses
    kinds: dict[str, str]
    details: dict[str, str]
    detail_rows: dict[str, str]
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


def details(rt: RunView, changed: str | None = None) -> str:
    """Markdown: run state, then one row per top-level step (bodies summarised in `detail`).

    Rows are cached on the runtime; `changed` names the one top-level step to redo.
    """
    rows = rt.detail_rows
    if not rows:
        rows.update((s.id, row(rt, s.id)) for s in rt.plan.template.steps)
    elif changed is not None and changed in rows:
        rows[changed] = row(rt, changed)
    head = f"**{rt.plan.name}@{rt.plan.version}** — {rt.run_state()}"
    if rt.inp.redrive is not None:
        head += f" · redrive {rt.inp.redrive.count}"
    return "\n".join(
        [head, "", "| step | kind | state | detail |", "|---|---|---|---|", *rows.values()]
    )


def publish_details(rt: RunView, changed: str | None = None) -> None:
    """`workflow.set_current_details` costs no history event; done on every top-level change."""
    workflow.set_current_details(details(rt, changed))
