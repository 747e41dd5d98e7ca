"""`wait:` — a durable timer for `duration`, or until the timestamp `until` evaluates to.

`until` is an expression (or a string embedding `${{ }}`) giving an ISO-8601
timestamp; without a zone it means UTC. A timestamp in the past does not wait. The
due time is saved as progress, so a continue-as-new keeps the original deadline.
Output: `{until: <ISO-8601 due time>}`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from temporalio import workflow

from workflows.engine import testmode
from workflows.engine.context import StepContext, StepFailure
from workflows.language.checker import Checker, Scope
from workflows.language.durations import parse_duration
from workflows.language.expressions import evaluate, render
from workflows.language.kinds import Kind
from workflows.language.model import Duration, StepBase, Strict


class Wait(Strict):
    duration: Duration | None = None
    until: str | None = None


class WaitStep(StepBase):
    kind: ClassVar[str] = "wait"

    wait: Wait


def check(c: Checker, step: WaitStep, loc: str, here: Scope) -> None:
    if (step.wait.duration is None) == (step.wait.until is None):
        c.add(f"{loc}.wait", "wait needs exactly one of duration or until")
    if step.wait.until is not None:
        if "${{" in step.wait.until:  # a string embedding ${{ }} is rendered
            c.value(step.wait.until, f"{loc}.wait.until", here)
        else:
            c.expr(step.wait.until, f"{loc}.wait.until", here)


def describe(step: WaitStep) -> str:
    return f"wait {step.wait.duration}" if step.wait.duration else f"wait until {step.wait.until}"


def parse_timestamp(value: Any, source: str) -> datetime:
    if not isinstance(value, str):
        raise StepFailure(f"wait.until `{source}` must give an ISO-8601 timestamp, got {value!r}")
    try:
        when = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise StepFailure(
            f"wait.until `{source}` gave {value!r}, not an ISO-8601 timestamp"
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


async def run(ctx: StepContext, step: WaitStep) -> Any:
    wait = step.wait
    if ctx.progress and "due_at" in ctx.progress:
        due = datetime.fromisoformat(ctx.progress["due_at"])
    elif wait.duration:
        due = workflow.now() + parse_duration(wait.duration)
    elif wait.until:
        src = wait.until
        value = render(src, ctx.scope()) if "${{" in src else evaluate(src, ctx.scope())
        due = parse_timestamp(value, src)
    else:
        raise StepFailure("wait needs `duration` or `until`")
    due_iso = due.astimezone(UTC).isoformat().replace("+00:00", "Z")
    ctx.save_progress({"due_at": due.isoformat()})
    ctx.set_detail(f"until {due_iso}")
    delay = due - workflow.now()
    test = testmode.of(ctx.rt)
    if test is not None:  # a template test skips the timer (the output is the same)
        test.note(ctx.address, "timer.skipped", until=due_iso)
    elif delay.total_seconds() > 0:
        await workflow.sleep(delay, summary=ctx.address)
    return {"until": due_iso}


KIND = Kind(model=WaitStep, run=run, check=check, describe=describe, shape=('(["', '"])'))
