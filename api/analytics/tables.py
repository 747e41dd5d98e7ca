"""Tables of the analytics store (alembic revision 0006_analytics).

One row per closed run, per step of it, per approval decision and per SLA level
fired; keys are natural (run id, step address, ...), so writing the same run twice
is refused by the database itself (that is what keeps API replicas from double
counting). `analytics_state` holds the ingester's watermark.

Reports read a window of rows by (template, close time): child rows carry their
run's template and close time, and the indexes on them also hold the columns the
reports read (covering indexes: a report scans one index range, no table lookups);
one more index per measured value (duration, turnaround) keeps it sorted, so a
percentile is a short index walk (api/analytics/report.py).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, Text
from sqlmodel import Field, SQLModel

from api.models import UTCDateTime


class AnalyticsRun(SQLModel, table=True):
    __tablename__ = "analytics_runs"
    __table_args__ = (
        Index("ix_analytics_runs_template_closed", "template", "closed_at", "state", "duration_s"),
        Index("ix_analytics_runs_closed", "closed_at", "template", "state", "duration_s"),
        # percentiles: walked in duration order
        Index("ix_analytics_runs_duration", "template", "duration_s", "closed_at"),
    )

    run_id: str = Field(primary_key=True, max_length=200)
    template: str = Field(max_length=100)
    version: int = 0
    #: completed, failed, cancelled, terminated, timed_out
    state: str = Field(max_length=20)
    started_by: str | None = Field(default=None, max_length=200)
    started_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    closed_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    duration_s: float | None = None
    error: str | None = Field(default=None, sa_column=Column(Text))
    #: why the step rows are missing, when the history could not be replayed
    detail_error: str | None = Field(default=None, sa_column=Column(Text))
    ingested_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class AnalyticsStep(SQLModel, table=True):
    __tablename__ = "analytics_steps"
    __table_args__ = (
        Index(
            "ix_analytics_steps_template_closed",
            *("template", "closed_at", "step", "kind", "state", "retries", "duration_s", "run_id"),
        ),
        Index(
            "ix_analytics_steps_duration",
            *("template", "step", "duration_s", "closed_at", "state"),
        ),
    )

    run_id: str = Field(primary_key=True, max_length=200)
    #: the run's template and close time, copied so reports filter without a join
    template: str = Field(max_length=100)
    closed_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    #: the step's address (`review[2].sign_off`)
    address: str = Field(primary_key=True, max_length=300)
    #: the address without foreach/loop indexes (`review[].sign_off`): what reports group by
    step: str = Field(max_length=300)
    kind: str = Field(max_length=30)
    state: str = Field(max_length=20)
    attempts: int | None = None
    retries: int = 0
    started_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    finished_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    duration_s: float | None = None
    error: str | None = Field(default=None, sa_column=Column(Text))


class AnalyticsDecision(SQLModel, table=True):
    """One decision on an approval: a person's vote, or `sla:<level>` / `timeout`."""

    __tablename__ = "analytics_decisions"
    __table_args__ = (
        Index(
            "ix_analytics_decisions_template_closed",
            *("template", "closed_at", "discarded", "step", "outcome", "actor", "turnaround_s"),
        ),
        Index(
            "ix_analytics_decisions_turnaround",
            *("template", "step", "turnaround_s", "closed_at", "discarded"),
        ),
    )

    run_id: str = Field(primary_key=True, max_length=200)
    #: the run's template and close time, copied so reports filter without a join
    template: str = Field(max_length=100)
    closed_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    address: str = Field(primary_key=True, max_length=300)
    seq: int = Field(primary_key=True)
    step: str = Field(max_length=300)
    actor: str = Field(max_length=200)
    outcome: str = Field(max_length=100)
    comment: str | None = Field(default=None, sa_column=Column(Text))
    as_admin: bool = False
    #: a vote of a round a reassignment discarded (not counted in reports)
    discarded: bool = False
    at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    turnaround_s: float | None = None


class AnalyticsSla(SQLModel, table=True):
    __tablename__ = "analytics_sla"
    __table_args__ = (Index("ix_analytics_sla_template_closed", "template", "closed_at"),)

    run_id: str = Field(primary_key=True, max_length=200)
    #: the run's template and close time, copied so reports filter without a join
    template: str = Field(max_length=100)
    closed_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    #: the step address, or `(run)` for the template's own levels
    step: str = Field(primary_key=True, max_length=300)
    level: str = Field(primary_key=True, max_length=100)
    fired_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    assignees: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))


class AnalyticsState(SQLModel, table=True):
    """Ingester bookkeeping: `closed_watermark` = close time read up to."""

    __tablename__ = "analytics_state"

    key: str = Field(primary_key=True, max_length=50)
    at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


TABLES: tuple[Any, ...] = (AnalyticsRun, AnalyticsStep, AnalyticsDecision, AnalyticsSla)
