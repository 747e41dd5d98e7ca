"""Bodies of `GET /analytics/*` (SPEC §10). Durations in seconds; percentiles are
nearest-rank over the runs closed in the window (exact, no sampling)."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, Field


class DayCount(BaseModel):
    day: date
    runs: int


class TemplateStats(BaseModel):
    template: str
    #: closed in the window + still open (started in the window)
    runs: int
    completed: int
    failed: int
    cancelled: int
    #: started in the window and not closed yet
    open: int
    #: completed / closed (0-1); null with no closed run
    success_rate: float | None
    duration_p50_s: float | None
    duration_p95_s: float | None
    #: closed as terminated or timed_out (counted in `runs`, not in the three above)
    other_closed: int = 0
    #: closed runs per UTC day of the window, oldest first (an addition to SPEC §10)
    runs_per_day: list[DayCount] = Field(default_factory=list)


class StepStats(BaseModel):
    step: str
    kind: str
    #: runs in which the step appears
    runs: int
    #: step executions (a foreach body step counts once per item)
    succeeded: int
    failed: int
    skipped: int
    #: extra attempts (attempts - 1) summed over executions
    retries: int
    duration_p50_s: float | None
    duration_p95_s: float | None


class ApprovalStats(BaseModel):
    step: str
    decisions: int
    turnaround_p50_s: float | None
    turnaround_p95_s: float | None
    by_outcome: dict[str, int] = Field(default_factory=dict)
    by_actor: dict[str, int] = Field(default_factory=dict)


class SlaStats(BaseModel):
    step: str
    level: str
    fired: int


class ErrorStats(BaseModel):
    step: str
    error: str
    count: int


class TemplateDetail(TemplateStats):
    steps: list[StepStats] = Field(default_factory=list)
    approvals: list[ApprovalStats] = Field(default_factory=list)
    sla: list[SlaStats] = Field(default_factory=list)
    top_errors: list[ErrorStats] = Field(default_factory=list)


class SlaRow(BaseModel):
    run_id: str
    template: str
    step: str
    level: str
    fired_at: datetime
    assignees: list[str]
