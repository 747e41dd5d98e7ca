"""The audit trail of one run (`GET /runs/{run_id}/audit`, SPEC §10): who did what, when.

Built from the history chain (`history.read_facts`: start and starter, pause /
resume / cancel requests with their actors, assignee resolutions, SLA timers, the
close) and the run's state replayed from that history (`replay.snapshots`: step
starts and ends, every decision with actor, comment and `as_admin`,
reassignments, ignored `decide` signals) — the history itself does not say when a
`set` or `gate` step ran or what a vote contained.

Each kind of event comes from one small function in `SOURCES`; a new kind is one more
function. A redriven run (SPEC §9) is read across its executions: the state of each
execution that ended (the last one of each redrive) is replayed, and a step carried
into a later execution is reported once, by the execution that ran it; `redriven`
(with the actor) marks each new execution, `run_closed` each end, and every hold of a
step (`on_failure: hold`) gives `step_held` and, once an operator acted, `resolved`. Events are ordered by time, and at the same
instant by `RANK`: a decision before the step end it causes, a step's end before the
starts it lets happen, and a step that starts and ends at once (`set`) in that order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field
from temporalio.client import Client

from api.analytics.history import Facts, fetch_chain, read_facts, starts_redrive
from api.analytics.record import parse_time
from api.analytics.replay import Snapshot, snapshots
from workflows.engine.io import StepStatus


class AuditEvent(BaseModel):
    at: datetime
    kind: str
    step: str | None = None
    actor: str | None = None
    detail: dict[str, Any] = Field(default_factory=dict)


class AuditTrail(BaseModel):
    run_id: str
    events: list[AuditEvent]


@dataclass
class Sources:
    facts: Facts
    snap: Snapshot | None
    #: the final state of each earlier execution a redrive continued, oldest first
    earlier: list[Snapshot] = field(default_factory=list)

    def states(self) -> Iterator[tuple[str, StepStatus, dict[str, str]]]:
        """(address, status, kinds) of every step as the execution that ran it left it."""
        for i, snap in enumerate([*self.earlier, *([self.snap] if self.snap else [])]):
            for address, st in snap.status.steps.items():
                if not (st.carried and i > 0):
                    yield address, st, snap.kinds


RANK = {
    "run_started": 0,
    "redriven": 0,
    "resolved": 1,
    "paused": 1,
    "resumed": 1,
    "cancelled": 1,
    "sla_fired": 1,
    "reassigned": 1,
    "decided": 1,
    "decision_ignored": 1,
    "step_started": 3,
    "approval_opened": 4,
    "run_closed": 9,
}
FINAL_RANK = 2  # step ends (and kinds not listed)


def _run_start(s: Sources) -> Iterator[AuditEvent]:
    f = s.facts
    at = f.started_at or (s.snap.status.started_at if s.snap else None)
    if at is None:
        return
    detail: dict[str, Any] = {"template": f.template, "version": f.version}
    if s.snap is not None:
        detail = {"template": s.snap.status.template, "version": s.snap.status.version}
    detail["identity"] = f.identity
    yield AuditEvent(at=at, kind="run_started", actor=f.started_by, detail=detail)


def _steps(s: Sources) -> Iterator[AuditEvent]:
    for address, st, kinds in s.states():
        kind = kinds.get(address, "unknown")
        if st.started_at is not None:
            yield AuditEvent(
                at=st.started_at, kind="step_started", step=address, detail={"kind": kind}
            )
        if st.finished_at is not None and st.state in (
            "succeeded",
            "failed",
            "skipped",
            "cancelled",
        ):
            detail: dict[str, Any] = {"kind": kind}
            if st.attempts:
                detail["attempts"] = st.attempts
            if st.error:
                detail["error"] = st.error
            if st.decision:
                detail["decision"] = st.decision
            yield AuditEvent(
                at=st.finished_at, kind=f"step_{st.state}", step=address, detail=detail
            )


def _approvals(s: Sources) -> Iterator[AuditEvent]:
    opened: set[str] = set()
    for r in s.facts.resolutions:  # the first resolution of a step opens its task
        if r.step not in opened:
            opened.add(r.step)
            yield AuditEvent(
                at=r.at, kind="approval_opened", step=r.step, detail={"assignees": r.keys()}
            )
    for address, st, kinds in s.states():
        out = st.output
        if kinds.get(address) != "approval" or not isinstance(out, dict):
            continue
        for r in out.get("reassignments") or []:
            yield from _votes(address, r.get("discarded") or [], discarded=True)
            if (at := parse_time(r.get("at"))) is not None:
                detail = {"users": r.get("users", []), "roles": r.get("roles", [])}
                detail["reason"] = r.get("reason")
                yield AuditEvent(
                    at=at, kind="reassigned", step=address, actor=r.get("actor"), detail=detail
                )
        yield from _votes(address, out.get("decisions") or [], discarded=False)
        for i in out.get("rejected_decisions") or []:
            if (at := parse_time(i.get("at"))) is not None:
                detail = {k: i.get(k) for k in ("outcome", "reason", "error")}
                yield AuditEvent(
                    at=at,
                    kind="decision_ignored",
                    step=address,
                    actor=i.get("actor"),
                    detail=detail,
                )
        decided_by = out.get("decided_by")
        if out.get("decision") and decided_by and decided_by != "quorum" and st.finished_at:
            yield AuditEvent(
                at=st.finished_at,
                kind="decided",
                step=address,
                actor=decided_by,
                detail={"outcome": out["decision"], "comment": None, "as_admin": False},
            )


def _votes(address: str, votes: list[Any], *, discarded: bool) -> Iterator[AuditEvent]:
    for v in votes:
        if not isinstance(v, dict) or (at := parse_time(v.get("at"))) is None:
            continue
        detail = {
            "outcome": v.get("outcome"),
            "comment": v.get("comment"),
            "as_admin": bool(v.get("as_admin")),
        }
        if v.get("on_behalf_of"):
            detail["on_behalf_of"] = v["on_behalf_of"]
        if v.get("data") is not None:
            detail["data"] = v["data"]
        if discarded:
            detail["discarded_by_reassignment"] = True
        yield AuditEvent(at=at, kind="decided", step=address, actor=v.get("actor"), detail=detail)


def _sla(s: Sources) -> Iterator[AuditEvent]:
    for f in s.facts.sla:
        yield AuditEvent(at=f.at, kind="sla_fired", step=f.key or None, detail={"level": f.level})


def _controls(s: Sources) -> Iterator[AuditEvent]:
    for c in s.facts.controls:
        kind = "cancelled" if c.kind == "cancel_requested" else c.kind
        yield AuditEvent(
            at=c.at, kind=kind, actor=c.actor or c.identity or None, detail={"identity": c.identity}
        )


def _close(s: Sources) -> Iterator[AuditEvent]:
    f = s.facts
    if f.closed_state is None or f.closed_at is None:
        return
    for c in f.closings[:-1]:  # executions a redrive continued
        detail: dict[str, Any] = {"state": c.state}
        if c.error:
            detail["error"] = c.error
        yield AuditEvent(at=c.at, kind="run_closed", actor=c.actor, detail=detail)
    detail = {"state": f.closed_state}
    error = (s.snap.status.error if s.snap else None) or f.close_error
    if error and f.closed_state != "completed":
        detail["error"] = error
    yield AuditEvent(at=f.closed_at, kind="run_closed", actor=f.close_actor, detail=detail)


def _redrives(s: Sources) -> Iterator[AuditEvent]:
    for r in s.facts.redrives:
        detail = {"redrive": r.count, "version": r.version}
        yield AuditEvent(at=r.at, kind="redriven", actor=r.actor, detail=detail)


def _incidents(s: Sources) -> Iterator[AuditEvent]:
    """`step_held` for every hold of a step, `resolved` (actor) for what an operator did."""
    for address, st, _ in s.states():
        for i in st.incidents or []:
            held = {"error": i.error, "attempts": i.attempts}
            yield AuditEvent(at=i.held_at, kind="step_held", step=address, detail=held)
            if i.resolved_at is not None:
                detail: dict[str, Any] = {"action": i.action, "comment": i.comment}
                if i.with_ is not None:
                    detail["with"] = i.with_
                yield AuditEvent(
                    at=i.resolved_at, kind="resolved", step=address, actor=i.actor, detail=detail
                )


SOURCES: list[Callable[[Sources], Iterator[AuditEvent]]] = [
    _run_start,
    _steps,
    _approvals,
    _sla,
    _controls,
    _close,
    _redrives,
    _incidents,
]


def build_events(
    facts: Facts, snap: Snapshot | None, earlier: list[Snapshot] | None = None
) -> list[AuditEvent]:
    src = Sources(facts, snap, list(earlier or []))
    events = [e for source in SOURCES for e in source(src)]
    keys: dict[int, tuple[datetime, int, int, int]] = {}
    starts: dict[tuple[str | None, datetime], tuple[datetime, int, int, int]] = {}
    for i, e in enumerate(events):
        keys[id(e)] = (e.at, RANK.get(e.kind, FINAL_RANK), i, 0)
        if e.kind == "step_started":
            starts[(e.step, e.at)] = keys[id(e)]
    for e in events:  # a step ending the instant it started: right after its start
        if e.kind.startswith("step_") and e.kind != "step_started":
            start = starts.get((e.step, e.at))
            if start is not None:
                keys[id(e)] = (*start[:3], 1)
    return sorted(events, key=lambda e: keys[id(e)])


async def run_audit(client: Client, run_id: str) -> AuditTrail:
    """The audit trail of `run_id` (RPCError NOT_FOUND when there is no such run)."""
    chain = await fetch_chain(client, run_id)
    facts = await read_facts(run_id, chain, client.data_converter)
    snap = (await snapshots(chain[-1:], client.data_converter)).get(run_id)
    earlier: list[Snapshot] = []
    for i in range(len(chain) - 1):  # the last execution before each redrive
        if starts_redrive(chain[i + 1]):
            before = (await snapshots([chain[i]], client.data_converter)).get(run_id)
            if isinstance(before, Snapshot):
                earlier.append(before)
    events = build_events(facts, snap if isinstance(snap, Snapshot) else None, earlier)
    if isinstance(snap, str):
        at = facts.closed_at or (events[-1].at if events else datetime.now(UTC))
        reason = f"step details unavailable: the history did not replay ({snap[:300]})"
        events.append(AuditEvent(at=at, kind="audit_incomplete", detail={"reason": reason}))
    return AuditTrail(run_id=run_id, events=events)
