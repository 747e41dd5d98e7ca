"""The analytics rows of one closed run, from its history facts and its final state.

- run: template@version, final state, starter, start/close, duration, error;
- steps: every step address of the status document, its kind, state, attempts
  (retries = attempts - 1), duration, error;
- decisions: each vote in an approval's output (`decisions`, plus the votes a
  reassignment discarded, flagged), and a decision no person made (`decided_by`
  `sla:<level>` / `timeout`) as a row whose actor is that. Turnaround: from the
  task reaching its assignees (opened, or the last reassignment before the vote)
  to the decision;
- SLA: each level fired (its timer fired), with the assignees at that moment.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from api.analytics.history import Facts, Resolution
from api.analytics.replay import Snapshot
from api.analytics.tables import AnalyticsDecision, AnalyticsRun, AnalyticsSla, AnalyticsStep
from workflows.engine.metrics import RUN_LEVEL, step_label

MAX_ERROR = 2000


@dataclass
class RunRecord:
    run: AnalyticsRun
    steps: list[AnalyticsStep] = field(default_factory=list)
    decisions: list[AnalyticsDecision] = field(default_factory=list)
    sla: list[AnalyticsSla] = field(default_factory=list)


def _clip(text: str | None) -> str | None:
    return text[:MAX_ERROR] if text else text


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return max((end - start).total_seconds(), 0.0)


def parse_time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str):
        try:
            return parse_time(datetime.fromisoformat(value))
        except ValueError:
            return None
    return None


def build(facts: Facts, snap: Snapshot | str, closed_state: str, closed_at: datetime) -> RunRecord:
    status = snap.status if isinstance(snap, Snapshot) else None
    # the first execution's start event (= visibility's StartTime), else the document's
    started_at = facts.started_at or (status.started_at if status else None)
    error = (status.error if status else None) or facts.close_error
    run = AnalyticsRun(
        run_id=facts.run_id,
        template=(status.template if status else None) or facts.template or "",
        version=(status.version if status else None) or facts.version or 0,
        state=closed_state,
        started_by=facts.started_by,
        started_at=started_at,
        closed_at=closed_at,
        duration_s=_seconds(started_at, closed_at),
        error=_clip(error) if closed_state != "completed" else None,
        detail_error=_clip(snap) if isinstance(snap, str) else None,
        ingested_at=datetime.now(UTC),
    )
    record = RunRecord(run)
    if not isinstance(snap, Snapshot):
        return record
    for address, st in snap.status.steps.items():
        kind = snap.kinds.get(address, "unknown")
        record.steps.append(
            AnalyticsStep(
                run_id=facts.run_id,
                template=run.template,
                closed_at=closed_at,
                address=address,
                step=step_label(address),
                kind=kind,
                state=st.state,
                attempts=st.attempts,
                retries=max((st.attempts or 1) - 1, 0),
                started_at=st.started_at,
                finished_at=st.finished_at,
                duration_s=_seconds(st.started_at, st.finished_at),
                error=_clip(st.error),
            )
        )
        if kind == "approval" and isinstance(st.output, dict):
            opened = _opened(facts.resolutions, address) or st.started_at
            record.decisions += _decisions(run, address, st.output, opened, st.finished_at)
    record.sla = _sla(run, facts, snap)
    return record


def _opened(resolutions: list[Resolution], address: str) -> datetime | None:
    return next((r.at for r in resolutions if r.step == address), None)


def _decisions(
    run: AnalyticsRun,
    address: str,
    output: dict[str, Any],
    opened: datetime | None,
    ended: datetime | None,
) -> list[AnalyticsDecision]:
    rounds = [r for r in output.get("reassignments") or [] if isinstance(r, dict)]
    votes: list[tuple[dict[str, Any], bool]] = []
    for r in rounds:
        votes += [(v, True) for v in r.get("discarded") or [] if isinstance(v, dict)]
    votes += [(v, False) for v in output.get("decisions") or [] if isinstance(v, dict)]
    starts = sorted(t for r in rounds if (t := parse_time(r.get("at"))) is not None)
    rows: list[AnalyticsDecision] = []
    for vote, discarded in votes:
        at = parse_time(vote.get("at"))
        if at is None:
            continue
        rows.append(_row(run, address, len(rows), vote, at, discarded, starts, opened))
    decided_by = output.get("decided_by")
    if output.get("decision") and decided_by and decided_by != "quorum":
        # no person settled it (an SLA `decide`, `on_timeout`): it happened as the step ended
        at = ended or _last(rows) or opened
        if at is not None:
            system = {"actor": decided_by, "outcome": output["decision"]}
            rows.append(_row(run, address, len(rows), system, at, False, starts, opened))
    return rows


def _last(rows: list[AnalyticsDecision]) -> datetime | None:
    return max((r.at for r in rows), default=None)


def _row(
    run: AnalyticsRun,
    address: str,
    seq: int,
    vote: dict[str, Any],
    at: datetime,
    discarded: bool,
    starts: list[datetime],
    opened: datetime | None,
) -> AnalyticsDecision:
    began = max((t for t in starts if t <= at), default=opened)
    return AnalyticsDecision(
        run_id=run.run_id,
        template=run.template,
        closed_at=run.closed_at,
        address=address,
        seq=seq,
        step=step_label(address),
        actor=str(vote.get("actor") or "?")[:200],
        outcome=str(vote.get("outcome") or "?")[:100],
        comment=vote.get("comment"),
        as_admin=bool(vote.get("as_admin")),
        discarded=discarded,
        at=at,
        turnaround_s=_seconds(began, at),
    )


def _sla(run: AnalyticsRun, facts: Facts, snap: Snapshot) -> list[AnalyticsSla]:
    rows: dict[tuple[str, str], AnalyticsSla] = {}
    steps = snap.status.steps
    for f in facts.sla:
        step = f.key or RUN_LEVEL
        if (step, f.level) in rows:
            continue  # a level fires once per step; a foreach re-entry keeps the first
        if f.key:
            keys = _assignees_at(facts.resolutions, f.key, f.at)
        else:  # run level: every approval open at that moment
            keys = sorted(
                {
                    k
                    for addr in {r.step for r in facts.resolutions}
                    if _open_at(steps.get(addr), f.at)
                    for k in _assignees_at(facts.resolutions, addr, f.at)
                }
            )
        rows[(step, f.level)] = AnalyticsSla(
            run_id=run.run_id,
            template=run.template,
            closed_at=run.closed_at,
            step=step,
            level=f.level,
            fired_at=f.at,
            assignees=keys,
        )
    return list(rows.values())


def _assignees_at(resolutions: list[Resolution], address: str, at: datetime) -> list[str]:
    before = [r for r in resolutions if r.step == address and r.at <= at]
    return before[-1].keys() if before else []


def _open_at(st: Any, at: datetime) -> bool:
    if st is None or st.started_at is None or st.started_at > at:
        return False
    return st.finished_at is None or st.finished_at >= at
