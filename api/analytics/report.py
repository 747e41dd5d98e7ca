"""The aggregates of `GET /analytics/*` over the runs closed since `since`.

Each report reads the rows of its window once — one range scan of a covering index
per table (child rows carry their run's template and close time for this; see
`tables.py`) — and aggregates in Python: counts, distinct runs, and nearest-rank
percentiles (rank = ceil(n * p)) over every value, so figures are exact. Measured in
`docs/benchmarks.md` (section 6): this beat GROUP BY + window-function percentiles,
which scan the same rows several times. `cond` is the caller's run-read filter
(`access.readable_runs`, a condition on the run row), applied to every query.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Table, and_, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from api.analytics.schemas import (
    ApprovalStats,
    DayCount,
    ErrorStats,
    SlaRow,
    SlaStats,
    StepStats,
    TemplateDetail,
    TemplateStats,
)
from api.analytics.store import DECISIONS, RUNS, SLA, STEPS
from workflows.metrics import step_label

S = TypeVar("S", bound=TemplateStats)
TOP_ERRORS = 10
#: per-day counts cover at most this many days (the most recent ones)
MAX_DAYS = 90


def percentiles(values: Iterable[float]) -> tuple[float | None, float | None]:
    """(p50, p95), nearest rank, of the values; (None, None) when there are none."""
    data = sorted(values)
    n = len(data)
    if not n:
        return None, None
    return data[(n * 50 + 99) // 100 - 1], data[(n * 95 + 99) // 100 - 1]


def _where(
    table: Table, since: datetime, template: str | None, cond: ColumnElement[bool] | None
) -> Any:
    """Rows of `table` whose run closed since `since` (of `template`), readable by the caller."""
    where = [table.c.closed_at >= since]
    if template is not None:
        where.append(table.c.template == template)
    if cond is not None:
        if table is RUNS:
            where.append(cond)
        else:
            where.append(table.c.run_id.in_(select(RUNS.c.run_id).where(cond)))
    return and_(*where)


def _day(conn: AsyncConnection) -> Any:
    """The UTC day of a run's close, as text (`YYYY-MM-DD`)."""
    if conn.dialect.name == "postgresql":
        return func.to_char(func.timezone("UTC", RUNS.c.closed_at), "YYYY-MM-DD")
    return func.date(RUNS.c.closed_at)  # SQLite keeps UTC timestamps as text


def _days(since: datetime) -> list[date]:
    today = datetime.now(UTC).date()
    first = max(since.astimezone(UTC).date(), today - timedelta(days=MAX_DAYS - 1))
    return [first + timedelta(days=i) for i in range((today - first).days + 1)]


async def templates(
    conn: AsyncConnection,
    since: datetime,
    open_runs: dict[str, int],
    cond: ColumnElement[bool] | None = None,
    template: str | None = None,
) -> list[TemplateStats]:
    q = select(RUNS.c.template, RUNS.c.state, RUNS.c.duration_s, _day(conn).label("day"))
    states: dict[str, Counter[str]] = defaultdict(Counter)
    durations: dict[str, list[float]] = defaultdict(list)
    per_day: dict[str, Counter[str]] = defaultdict(Counter)
    for name, state, duration, day in await conn.execute(
        q.where(_where(RUNS, since, template, cond))
    ):
        states[name][state] += 1
        if duration is not None:
            durations[name].append(duration)
        per_day[name][str(day)] += 1
    days = _days(since)
    names = sorted(set(states) | ({template} if template else set(open_runs)))
    out = []
    for name in names:
        s = states[name]
        closed, completed = sum(s.values()), s["completed"]
        p50, p95 = percentiles(durations[name])
        out.append(
            TemplateStats(
                template=name,
                runs=closed + open_runs.get(name, 0),
                completed=completed,
                failed=s["failed"],
                cancelled=s["cancelled"],
                open=open_runs.get(name, 0),
                success_rate=round(completed / closed, 6) if closed else None,
                duration_p50_s=p50,
                duration_p95_s=p95,
                other_closed=closed - completed - s["failed"] - s["cancelled"],
                runs_per_day=[DayCount(day=d, runs=per_day[name][d.isoformat()]) for d in days]
                if closed
                else [],
            )
        )
    return out


def with_open(stats: S, open_runs: int) -> S:
    """`stats` (computed with no open run) with `open_runs` open runs added."""
    return stats.model_copy(update={"open": open_runs, "runs": stats.runs - stats.open + open_runs})


async def detail(
    conn: AsyncConnection,
    name: str,
    since: datetime,
    open_runs: int,
    cond: ColumnElement[bool] | None = None,
) -> TemplateDetail:
    head = (await templates(conn, since, {name: open_runs}, cond, template=name))[0]
    steps, errors = await _steps(conn, _where(STEPS, since, name, cond))
    return TemplateDetail(
        **head.model_dump(),
        steps=steps,
        approvals=await _approvals(conn, _where(DECISIONS, since, name, cond)),
        sla=await _sla_counts(conn, _where(SLA, since, name, cond)),
        top_errors=errors,
    )


async def _steps(conn: AsyncConnection, where: Any) -> tuple[list[StepStats], list[ErrorStats]]:
    q = select(
        STEPS.c.step,
        STEPS.c.kind,
        STEPS.c.state,
        STEPS.c.retries,
        STEPS.c.run_id,
        STEPS.c.duration_s,
    ).where(where)
    by_step: dict[str, list[Any]] = defaultdict(list)
    for row in (await conn.execute(q)).all():
        by_step[row[0]].append(row)
    stats = []
    for step in sorted(by_step):
        rows = by_step[step]
        states = Counter(r[2] for r in rows)
        p50, p95 = percentiles(r[5] for r in rows if r[5] is not None and r[2] != "skipped")
        stats.append(
            StepStats(
                step=step,
                kind=rows[0][1],
                runs=len({r[4] for r in rows}),
                succeeded=states["succeeded"],
                failed=states["failed"],
                skipped=states["skipped"],
                retries=sum(r[3] or 0 for r in rows),
                duration_p50_s=p50,
                duration_p95_s=p95,
            )
        )
    n = func.count().label("n")
    failed = (
        select(STEPS.c.step, STEPS.c.error, n)
        .where(where, STEPS.c.state == "failed", STEPS.c.error.is_not(None))
        .group_by(STEPS.c.step, STEPS.c.error)
        .order_by(n.desc(), STEPS.c.step, STEPS.c.error)
        .limit(TOP_ERRORS)
    )
    errors = [ErrorStats(step=s, error=e, count=int(c)) for s, e, c in await conn.execute(failed)]
    return stats, errors


async def _approvals(conn: AsyncConnection, where: Any) -> list[ApprovalStats]:
    q = select(
        DECISIONS.c.step, DECISIONS.c.outcome, DECISIONS.c.actor, DECISIONS.c.turnaround_s
    ).where(where, DECISIONS.c.discarded.is_(False))
    outcomes: dict[str, Counter[str]] = defaultdict(Counter)
    actors: dict[str, Counter[str]] = defaultdict(Counter)
    turnaround: dict[str, list[float]] = defaultdict(list)
    for step, outcome, actor, seconds in await conn.execute(q):
        outcomes[step][outcome] += 1
        actors[step][actor] += 1
        if seconds is not None:
            turnaround[step].append(seconds)
    out = []
    for step in sorted(outcomes):
        p50, p95 = percentiles(turnaround[step])
        out.append(
            ApprovalStats(
                step=step,
                decisions=sum(outcomes[step].values()),
                turnaround_p50_s=p50,
                turnaround_p95_s=p95,
                by_outcome=dict(sorted(outcomes[step].items())),
                by_actor=dict(sorted(actors[step].items())),
            )
        )
    return out


async def _sla_counts(conn: AsyncConnection, where: Any) -> list[SlaStats]:
    q = (
        select(SLA.c.step, SLA.c.level, func.count().label("n"))
        .where(where)
        .group_by(SLA.c.step, SLA.c.level)
    )
    fired: Counter[tuple[str, str]] = Counter()
    for step, level, n in await conn.execute(q):
        fired[(step_label(step), level)] += int(n)
    return [SlaStats(step=s, level=lv, fired=n) for (s, lv), n in sorted(fired.items())]


async def sla_rows(
    conn: AsyncConnection,
    since: datetime,
    template: str | None = None,
    cond: ColumnElement[bool] | None = None,
) -> list[SlaRow]:
    q = (
        select(
            SLA.c.run_id, SLA.c.template, SLA.c.step, SLA.c.level, SLA.c.fired_at, SLA.c.assignees
        )
        .where(_where(SLA, since, template, cond))
        .order_by(SLA.c.fired_at, SLA.c.run_id, SLA.c.step, SLA.c.level)
    )
    return [
        SlaRow(
            run_id=r.run_id,
            template=r.template,
            step=r.step,
            level=r.level,
            fired_at=r.fired_at,
            assignees=list(r.assignees or []),
        )
        for r in await conn.execute(q)
    ]
