"""The aggregates of `GET /analytics/*` over the runs closed since `since`.

All in the database, read from indexes only (`tables.py`): counts are GROUP BYs over
one covering-index range per table (child rows carry their run's template and close
time for this), and each p50/p95 is an exact nearest-rank percentile (rank =
ceil(n * p)) fetched as `ORDER BY value LIMIT 1 OFFSET rank - 1` on an index sorted by
that value, which the database walks without sorting or touching the table. Measured
in `docs/benchmarks.md` (section 6); scanning the rows into Python or window
functions were several times slower. `cond` is the caller's run-read filter
(`access.readable_runs`, a condition on the run row), applied to every query.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Table, and_, case, func, select
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
from workflows.engine.metrics import step_label

S = TypeVar("S", bound=TemplateStats)
TOP_ERRORS = 10
#: per-day counts cover at most this many days (the most recent ones)
MAX_DAYS = 90


def ranks(n: int) -> tuple[int, int]:
    """1-based nearest ranks of p50 and p95 among n values."""
    return (n * 50 + 99) // 100, (n * 95 + 99) // 100


def _count(cond: Any) -> Any:
    return func.coalesce(func.sum(case((cond, 1), else_=0)), 0)


async def _percentiles(
    conn: AsyncConnection, value: Any, where: Any, n: int
) -> tuple[float | None, float | None]:
    """(p50, p95) of `value` over the n rows matching `where` (value not null)."""
    if n <= 0:
        return None, None
    out = []
    for rank in ranks(n):
        q = select(value).where(where, value.is_not(None)).order_by(value).limit(1).offset(rank - 1)
        v = (await conn.execute(q)).scalar()
        out.append(float(v) if v is not None else None)
    return out[0], out[1]


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
    where = _where(RUNS, since, template, cond)
    q = (
        select(
            RUNS.c.template,
            func.count().label("closed"),
            _count(RUNS.c.state == "completed").label("completed"),
            _count(RUNS.c.state == "failed").label("failed"),
            _count(RUNS.c.state == "cancelled").label("cancelled"),
            func.count(RUNS.c.duration_s).label("timed"),
        )
        .where(where)
        .group_by(RUNS.c.template)
    )
    rows = {r.template: r for r in await conn.execute(q)}
    day = _day(conn).label("day")
    per_day: dict[str, Counter[str]] = defaultdict(Counter)
    for name, d, n in await conn.execute(
        select(RUNS.c.template, day, func.count()).where(where).group_by(RUNS.c.template, day)
    ):
        per_day[name][str(d)] = int(n)
    days = _days(since)
    out = []
    for name in sorted(set(rows) | ({template} if template else set(open_runs))):
        r = rows.get(name)
        closed = int(r.closed) if r else 0
        completed, failed, cancelled = (
            (int(r.completed), int(r.failed), int(r.cancelled)) if r else (0, 0, 0)
        )
        mine = and_(where, RUNS.c.template == name) if template is None else where
        p50, p95 = await _percentiles(conn, RUNS.c.duration_s, mine, int(r.timed) if r else 0)
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
    timed = and_(STEPS.c.duration_s.is_not(None), STEPS.c.state != "skipped")
    q = (
        select(
            STEPS.c.step,
            STEPS.c.kind,
            func.count(STEPS.c.run_id.distinct()).label("runs"),
            _count(STEPS.c.state == "succeeded").label("succeeded"),
            _count(STEPS.c.state == "failed").label("failed"),
            _count(STEPS.c.state == "skipped").label("skipped"),
            func.coalesce(func.sum(STEPS.c.retries), 0).label("retries"),
            _count(timed).label("timed"),
        )
        .where(where)
        .group_by(STEPS.c.step, STEPS.c.kind)
        .order_by(STEPS.c.step, STEPS.c.kind)
    )
    stats = []
    for r in list(await conn.execute(q)):
        mine = and_(where, STEPS.c.step == r.step, STEPS.c.state != "skipped")
        p50, p95 = await _percentiles(conn, STEPS.c.duration_s, mine, int(r.timed))
        stats.append(
            StepStats(
                step=r.step,
                kind=r.kind,
                runs=int(r.runs),
                succeeded=int(r.succeeded),
                failed=int(r.failed),
                skipped=int(r.skipped),
                retries=int(r.retries),
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
    counted = and_(where, DECISIONS.c.discarded.is_(False))
    q = (
        select(
            DECISIONS.c.step,
            DECISIONS.c.outcome,
            DECISIONS.c.actor,
            func.count().label("n"),
            func.count(DECISIONS.c.turnaround_s).label("timed"),
        )
        .where(counted)
        .group_by(DECISIONS.c.step, DECISIONS.c.outcome, DECISIONS.c.actor)
    )
    outcomes: dict[str, Counter[str]] = defaultdict(Counter)
    actors: dict[str, Counter[str]] = defaultdict(Counter)
    timed: Counter[str] = Counter()
    for step, outcome, actor, n, t in await conn.execute(q):
        outcomes[step][outcome] += int(n)
        actors[step][actor] += int(n)
        timed[step] += int(t)
    out = []
    for step in sorted(outcomes):
        mine = and_(counted, DECISIONS.c.step == step)
        p50, p95 = await _percentiles(conn, DECISIONS.c.turnaround_s, mine, timed[step])
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
