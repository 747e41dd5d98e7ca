"""The run deadline (SPEC §9): template-level `deadline: <duration>`.

One durable timer from the run's start (`rt.started_at`: carried across continue-as-new,
so the remaining time is honoured, not restarted; a redrive is a new start). When it
fires before the run finished, the workflow cancels what runs — running steps are
cancelled, `run_if: all_done` steps still run — and fails the run with
`run deadline <duration> exceeded` (`ApplicationError` type `DeadlineExceeded`).
Templates without `deadline` start no timer and pay nothing.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from temporalio import workflow

from workflows.engine.runtime import Runtime
from workflows.language.durations import parse_duration

ERROR_TYPE = "DeadlineExceeded"


class Deadline:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.text: str | None = rt.plan.template.deadline
        self.passed = False
        self._task: asyncio.Task[Any] | None = None

    @property
    def message(self) -> str:
        return f"run deadline {self.text} exceeded"

    def start(self) -> Deadline:
        if self.text is not None and self._task is None:
            self._task = asyncio.create_task(self._timer())
        return self

    async def _timer(self) -> None:
        assert self.text is not None
        left = self.rt.started_at + parse_duration(self.text) - workflow.now()
        if left > timedelta(0):
            await workflow.sleep(left, summary=f"run deadline ({self.text})")
        self.passed = True
