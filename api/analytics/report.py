"""The aggregates of `GET /analytics/*`, computed by the database over the runs closed
since `since` (SQLite and PostgreSQL alike).

Counts are GROUP BYs; p50/p95 are nearest-rank percentiles picked in SQL with window
functions (`row_number()` over the sorted values, rank = ceil(n * p)), so a report
reads a handful of rows whatever the number of runs. `cond` is the caller's
run-read filter (`access.readable_runs`), applied to every query through the run row.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, or_, select
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

TOP_ERRORS = 10
#: per-day counts cover at most this many days (the most recent ones)
MAX_DAYS = 90
OTHER_CLOSED = ("terminated", "timed_out")


def _count(cond: ColumnElement[bool]) -> Any:
    return func.coalesce(func.sum(case((cond, 1), else_=0)), 0)


def _window(since: datetime, template: str | None, cond: ColumnElement[bool] | None) -> Any:
    where = [RUNS.c.closed_at >= since]
    if template is not None:
        where.append(RUNS.c.template == template)
    if cond is not None:
        where.append(cond)
    return and_(*where)


async def _percentiles(
    conn: AsyncConnection, groups: list[Any], value: Any, from_: Any, where: Any
) -> dict[tuple[Any, ...], tuple[float | None, float | None]]:
    """Group -> (p50, p95) of `value` (nearest rank), for rows where value is not null."""
    rn = func.row_number().over(partition_by=groups, order_by=value).label("rn")
    n = func.count().over(partition_by=groups).label("n")
    inner = (
        select(*[g.label(f"g{i}") for i, g in enumerate(groups)], value.label("v"), rn, n)
        .select_from(from_)
        .where(where, value.is_not(None))
        .subquery()
    )
    p50, p95 = (inner.c.n * 50 + 99) // 100, (inner.c.n * 95 + 99) // 100
    keys = [inner.c[f"g{i}"] for i in range(len(groups))]
    q = select(*keys, inner.c.v, inner.c.rn, p50.label("r50"), p95.label("r95")).where(
        or_(inner.c.rn == p50, inner.c.rn == p95)
    )
    out: dict[tuple[Any, ...], list[float | None]] = defaultdict(lambda: [None, None])
    for row in await conn.execute(q):
        key = tuple(row[: len(groups)])
        v, r, r50, r95 = row[len(groups) :]
        if r == r50:
            out[key][0] = float(v)
        if r == r95:
            out[key][1] = float(v)
    return {k: (v[0], v[1]) for k, v in out.items()}


async def templates(
    conn: AsyncConnection,
    since: datetime,
    open_runs: dict[str, int],
    cond: ColumnElement[bool] | None = None,
    template: str | None = None,
) -> list[TemplateStats]:
    where = _window(since, template, cond)
    q = (
        select(
            RUNS.c.template,
            func.count().label("closed"),
            _count(RUNS.c.state == "completed").label("completed"),
            _count(RUNS.c.state == "failed").label("failed"),
            _count(RUNS.c.state == "cancelled").label("cancelled"),
        )
        .where(where)
        .group_by(RUNS.c.template)
    )
    rows = {r.template: r for r in await conn.execute(q)}
    pct = await _percentiles(conn, [RUNS.c.template], RUNS.c.duration_s, RUNS, where)
    daily = await _per_day(conn, where, since)
    names = sorted(set(rows) | ({template} if template else set(open_runs)))
    out = []
    for name in names:
        r = rows.get(name)
        closed = int(r.closed) if r else 0
        completed = int(r.completed) if r else 0
        failed, cancelled = (int(r.failed), int(r.cancelled)) if r else (0, 0)
        p50, p95 = pct.get((name,), (None, None))
        out.append(
            TemplateStats(
                template=name,
                runs=closed + open_runs.get(name, 0),
                completed=completed,
                failed=failed,
                cancelled=cancelled,
                open=open_runs.get(name, 0),
                success_rate=round(completed / closed, 6) if closed else None,
                duration_p50_s=p50,
                duration_p95_s=p95,
                other_closed=closed - completed - failed - cancelled,
                runs_per_day=daily.get(name, []),
            )
        )
    return out


async def _per_day(conn: AsyncConnection, where: Any, since: datetime) -> dict[str, list[DayCount]]:
    """Template -> closed runs per UTC day from `since`'s day to today (zeros included)."""
    closed = RUNS.c.closed_at
    if conn.dialect.name == "postgresql":
        day = func.date(func.timezone("UTC", closed))
    else:  # SQLite stores UTC timestamps as text
        day = func.date(closed)
    q = select(RUNS.c.template, day.label("day"), func.count().label("n")).where(where)
    counts: dict[str, dict[str, int]] = defaultdict(dict)
    for r in await conn.execute(q.group_by(RUNS.c.template, day)):
        counts[r.template][str(r.day)] = int(r.n)
    today = datetime.now(UTC).date()
    first = max(since.astimezone(UTC).date(), today - timedelta(days=MAX_DAYS - 1))
    days = [first + timedelta(days=i) for i in range((today - first).days + 1)]
    return {
        t: [DayCount(day=d, runs=c.get(d.isoformat(), 0)) for d in days] for t, c in counts.items()
    }


async def detail(
    conn: AsyncConnection,
    name: str,
    since: datetime,
    open_runs: int,
    cond: ColumnElement[bool] | None = None,
) -> TemplateDetail:
    head = (await templates(conn, since, {name: open_runs}, cond, template=name))[0]
    where = _window(since, name, cond)
    return TemplateDetail(
        **head.model_dump(),
        steps=await _steps(conn, where),
        approvals=await _approvals(conn, where),
        sla=await _sla_counts(conn, where),
        top_errors=await _errors(conn, where),
    )


async def _steps(conn: AsyncConnection, where: Any) -> list[StepStats]:
    joined = STEPS.join(RUNS, RUNS.c.run_id == STEPS.c.run_id)
    q = (
        select(
            STEPS.c.step,
            STEPS.c.kind,
            func.count(STEPS.c.run_id.distinct()).label("runs"),
            _count(STEPS.c.state == "succeeded").label("succeeded"),
            _count(STEPS.c.state == "failed").label("failed"),
            _count(STEPS.c.state == "skipped").label("skipped"),
            func.coalesce(func.sum(STEPS.c.retries), 0).label("retries"),
        )
        .select_from(joined)
        .where(where)
        .group_by(STEPS.c.step, STEPS.c.kind)
        .order_by(STEPS.c.step)
    )
    rows = list(await conn.execute(q))
    timed = and_(where, STEPS.c.state != "skipped")
    pct = await _percentiles(conn, [STEPS.c.step], STEPS.c.duration_s, joined, timed)
    return [
        StepStats(
            step=r.step,
            kind=r.kind,
            runs=int(r.runs),
            succeeded=int(r.succeeded),
            failed=int(r.failed),
            skipped=int(r.skipped),
            retries=int(r.retries),
            duration_p50_s=pct.get((r.step,), (None, None))[0],
            duration_p95_s=pct.get((r.step,), (None, None))[1],
        )
        for r in rows
    ]


async def _approvals(conn: AsyncConnection, where: Any) -> list[ApprovalStats]:
    joined = DECISIONS.join(RUNS, RUNS.c.run_id == DECISIONS.c.run_id)
    counted = and_(where, DECISIONS.c.discarded.is_(False))
    q = (
        select(DECISIONS.c.step, DECISIONS.c.outcome, DECISIONS.c.actor, func.count().label("n"))
        .select_from(joined)
        .where(counted)
        .group_by(DECISIONS.c.step, DECISIONS.c.outcome, DECISIONS.c.actor)
    )
    outcomes: dict[str, Counter[str]] = defaultdict(Counter)
    actors: dict[str, Counter[str]] = defaultdict(Counter)
    for r in await conn.execute(q):
        outcomes[r.step][r.outcome] += int(r.n)
        actors[r.step][r.actor] += int(r.n)
    pct = await _percentiles(conn, [DECISIONS.c.step], DECISIONS.c.turnaround_s, joined, counted)
    return [
        ApprovalStats(
            step=step,
            decisions=sum(outcomes[step].values()),
            turnaround_p50_s=pct.get((step,), (None, None))[0],
            turnaround_p95_s=pct.get((step,), (None, None))[1],
            by_outcome=dict(sorted(outcomes[step].items())),
            by_actor=dict(sorted(actors[step].items())),
        )
        for step in sorted(outcomes)
    ]


async def _sla_counts(conn: AsyncConnection, where: Any) -> list[SlaStats]:
    joined = SLA.join(RUNS, RUNS.c.run_id == SLA.c.run_id)
    q = (
        select(SLA.c.step, SLA.c.level, func.count().label("n"))
        .select_from(joined)
        .where(where)
        .group_by(SLA.c.step, SLA.c.level)
    )
    fired: Counter[tuple[str, str]] = Counter()
    for r in await conn.execute(q):
        fired[(step_label(r.step), r.level)] += int(r.n)
    return [SlaStats(step=s, level=lv, fired=n) for (s, lv), n in sorted(fired.items())]


async def _errors(conn: AsyncConnection, where: Any) -> list[ErrorStats]:
    joined = STEPS.join(RUNS, RUNS.c.run_id == STEPS.c.run_id)
    n = func.count().label("n")
    q = (
        select(STEPS.c.step, STEPS.c.error, n)
        .select_from(joined)
        .where(where, STEPS.c.state == "failed", STEPS.c.error.is_not(None))
        .group_by(STEPS.c.step, STEPS.c.error)
        .order_by(n.desc(), STEPS.c.step, STEPS.c.error)
        .limit(TOP_ERRORS)
    )
    return [ErrorStats(step=r.step, error=r.error, count=int(r.n)) for r in await conn.execute(q)]


async def sla_rows(
    conn: AsyncConnection,
    since: datetime,
    template: str | None = None,
    cond: ColumnElement[bool] | None = None,
) -> list[SlaRow]:
    q = (
        select(
            SLA.c.run_id, RUNS.c.template, SLA.c.step, SLA.c.level, SLA.c.fired_at, SLA.c.assignees
        )
        .select_from(SLA.join(RUNS, RUNS.c.run_id == SLA.c.run_id))
        .where(_window(since, template, cond))
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
