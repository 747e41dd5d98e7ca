"""The run status document (SPEC §5) and the Web UI's current-details markdown table."""

from __future__ import annotations

from typing import TYPE_CHECKING

from temporalio import workflow

from workflows.io import RunStatus

if TYPE_CHECKING:
    from workflows.runtime import Runtime

MAX_DETAIL = 80


def document(rt: Runtime) -> RunStatus:
    return RunStatus(
        run_id=rt.run_id,
        template=rt.plan.name,
        version=rt.plan.version,
        state=rt.run_state(),
        started_at=rt.started_at,
        closed_at=rt.closed_at,
        steps=dict(rt.statuses),
        pending=rt.open_tasks(),
        output=rt.output,
        error=rt.error,
        sla_level=rt.sla_level,
    )


def _cell(text: str) -> str:
    text = " ".join(text.split()).replace("|", "\\|")
    return text if len(text) <= MAX_DETAIL else text[: MAX_DETAIL - 1] + "…"


def details(rt: Runtime) -> str:
    """Markdown: run state, then one row per top-level step (bodies summarised in `detail`)."""
    lines = [
        f"**{rt.plan.name}@{rt.plan.version}** — {rt.run_state()}",
        "",
        "| step | kind | state | detail |",
        "|---|---|---|---|",
    ]
    for step in rt.plan.template.steps:
        st = rt.statuses[step.id]
        detail = rt.details.get(step.id, "")
        if st.error:
            detail = st.error
        elif st.decision:
            detail = f"decision: {st.decision}"
        elif not detail and st.attempts and st.attempts > 1:
            detail = f"{st.attempts} attempts"
        lines.append(f"| {step.id} | {step.kind} | {st.state} | {_cell(detail)} |")
    return "\n".join(lines)


def publish_details(rt: Runtime) -> None:
    """`workflow.set_current_details` costs no history event; done on every change."""
    workflow.set_current_details(details(rt))
