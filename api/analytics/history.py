"""A run's Temporal history, decoded into the facts the audit trail and the analytics need.

A run is one workflow id; continue-as-new makes it a chain of executions, each with
its own history. `fetch_chain` walks the chain back from the latest execution (each
start event names the execution it continues) and returns the histories oldest first.
`read_facts` decodes what only the history knows: who started the run, pause /
resume / cancel requests and their actors, assignee resolutions (the task opened
or reassigned), SLA levels fired (their timers), and how the run closed.
Payloads are decoded with the client's data converter (a codec applies).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from temporalio.api.common.v1 import Payload
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client, WorkflowHistory
from temporalio.converter import DataConverter

from api.services.actors import cancel_actor
from workflows.engine import search_attributes as sa

#: `workflows.engine.sla` names each level's timer "SLA <level> of <step|run> (+<after>)"
SLA_TIMER = re.compile(r"^SLA (?P<level>.+?) of (?P<where>\S+) \(\+(?P<after>[^)]*)\)$")
#: the activity that resolves an approval's assignees (opening and every reassignment)
RESOLVE_ACTIVITY = "resolve_assignees"
CLOSE_STATES = {
    "workflow_execution_completed_event_attributes": "completed",
    "workflow_execution_failed_event_attributes": "failed",
    "workflow_execution_canceled_event_attributes": "cancelled",
    "workflow_execution_terminated_event_attributes": "terminated",
    "workflow_execution_timed_out_event_attributes": "timed_out",
}
MAX_CHAIN = 10_000


@dataclass
class Control:
    """A pause / resume signal or a cancel request."""

    at: datetime
    kind: str  # paused, resumed, cancel_requested
    actor: str | None
    identity: str


@dataclass
class Resolution:
    """Assignees resolved for an approval step (the first one opens the task)."""

    at: datetime
    step: str
    users: list[str]
    roles: list[str]
    pick: str = "all"

    def keys(self) -> list[str]:
        keys = [f"user:{u}" for u in self.users]
        if self.pick != "least_loaded":
            keys += [f"role:{r}" for r in self.roles]
        return keys


@dataclass
class SlaFiring:
    at: datetime
    key: str  # step address, "" for the template's own levels
    level: str


@dataclass
class Redrive:
    """A redrive (SPEC §9): a new execution of the run, from its start event's memo."""

    at: datetime
    count: int
    actor: str | None
    version: int | None


@dataclass
class Closing:
    """One execution's end (a redriven run ends more than once)."""

    at: datetime
    state: str
    error: str | None = None
    actor: str | None = None


@dataclass
class Facts:
    run_id: str
    started_at: datetime | None = None
    started_by: str | None = None
    template: str | None = None
    version: int | None = None
    identity: str = ""
    controls: list[Control] = field(default_factory=list)
    resolutions: list[Resolution] = field(default_factory=list)
    sla: list[SlaFiring] = field(default_factory=list)
    closed_state: str | None = None
    closed_at: datetime | None = None
    close_error: str | None = None
    close_actor: str | None = None
    executions: int = 0
    redrives: list[Redrive] = field(default_factory=list)
    #: every execution's end, oldest first (the last one is also `closed_*`)
    closings: list[Closing] = field(default_factory=list)


def event_time(e: HistoryEvent) -> datetime:
    return e.event_time.ToDatetime(tzinfo=UTC)


async def fetch_chain(client: Client, run_id: str) -> list[WorkflowHistory]:
    """Histories of every execution of the run, oldest first (RPCError when it does not exist):
    back through continue-as-new and through redrives (whose start memo names the
    execution they continue)."""
    chain: list[WorkflowHistory] = []
    execution: str | None = None
    while len(chain) < MAX_CHAIN:
        history = await client.get_workflow_handle(run_id, run_id=execution).fetch_history()
        chain.append(history)
        first = (
            history.events[0].workflow_execution_started_event_attributes
            if history.events
            else None
        )
        execution = first.continued_execution_run_id if first is not None else None
        if not execution and first is not None:
            memo = await redrive_memo(client.data_converter, first)
            execution = str(memo.get("previous") or "") or None
        if not execution:
            break
    chain.reverse()
    return chain


async def redrive_memo(converter: DataConverter, started: Any) -> dict[str, Any]:
    """The `redrive` memo of an execution's start (`{}` for any other start; a
    continue-as-new keeps the memo of the execution it continues)."""
    if started.continued_execution_run_id or not started.HasField("memo"):
        return {}
    payload = started.memo.fields.get("redrive")
    if payload is None:
        return {}
    value = await _decode(converter, [payload])
    return value if isinstance(value, dict) else {}


def starts_redrive(history: WorkflowHistory) -> bool:
    """Does this execution begin a redrive (rather than the run, or a continue-as-new)?"""
    if not history.events:
        return False
    started = history.events[0].workflow_execution_started_event_attributes
    if started.continued_execution_run_id or not started.HasField("memo"):
        return False
    return "redrive" in started.memo.fields


async def _decode(converter: DataConverter, payloads: Any, hint: type | None = None) -> Any:
    items = list(getattr(payloads, "payloads", payloads) or [])
    if not items:
        return None
    try:
        values = await converter.decode(items, [hint] if hint else None)
    except Exception:  # noqa: BLE001 - an undecodable payload is reported as absent
        return None
    return values[0] if values else None


async def _summary(converter: DataConverter, e: HistoryEvent) -> str | None:
    if not e.HasField("user_metadata") or not e.user_metadata.HasField("summary"):
        return None
    value = await _decode(converter, [e.user_metadata.summary], str)
    return value if isinstance(value, str) else None


def _search_attr(fields: Any, name: str) -> Any:
    payload: Payload | None = fields.get(name) if fields is not None else None
    if payload is None:
        return None
    try:
        return json.loads(payload.data)
    except ValueError:
        return None


async def read_facts(run_id: str, chain: list[WorkflowHistory], converter: DataConverter) -> Facts:
    """Everything the audit and the analytics read from the history chain of one run."""
    facts = Facts(run_id=run_id, executions=len(chain))
    for index, history in enumerate(chain):
        await _read_one(facts, history, converter, first=index == 0)
    return facts


async def _read_one(
    facts: Facts, history: WorkflowHistory, converter: DataConverter, *, first: bool
) -> None:
    resolving: dict[int, Any] = {}  # scheduled event id -> ResolveRequest (decoded)
    timers: dict[str, SlaFiring] = {}
    for e in history.events:
        kind = e.WhichOneof("attributes")
        at = event_time(e)
        if kind == "workflow_execution_started_event_attributes" and first:
            attrs = e.workflow_execution_started_event_attributes
            fields = attrs.search_attributes.indexed_fields
            facts.started_at, facts.identity = at, attrs.identity
            facts.started_by = _search_attr(fields, sa.STARTED_BY.name)
            facts.template = _search_attr(fields, sa.TEMPLATE_NAME.name)
            version = _search_attr(fields, sa.TEMPLATE_VERSION.name)
            facts.version = int(version) if isinstance(version, int | str) else None
        elif kind == "workflow_execution_started_event_attributes":
            memo = await redrive_memo(converter, e.workflow_execution_started_event_attributes)
            if memo:
                count, version = memo.get("count"), memo.get("version")
                facts.redrives.append(
                    Redrive(
                        at,
                        int(count) if isinstance(count, int) else len(facts.redrives) + 1,
                        memo.get("actor") if isinstance(memo.get("actor"), str) else None,
                        int(version) if isinstance(version, int) else None,
                    )
                )
        elif kind == "workflow_execution_signaled_event_attributes":
            sig = e.workflow_execution_signaled_event_attributes
            if sig.signal_name in ("pause", "resume"):
                body = await _decode(converter, sig.input)
                actor = body.get("actor") if isinstance(body, dict) else None
                label = "paused" if sig.signal_name == "pause" else "resumed"
                facts.controls.append(Control(at, label, actor, sig.identity))
        elif kind == "workflow_execution_cancel_requested_event_attributes":
            req = e.workflow_execution_cancel_requested_event_attributes
            facts.controls.append(
                Control(at, "cancel_requested", cancel_actor(req.cause), req.identity)
            )
        elif kind == "activity_task_scheduled_event_attributes":
            act = e.activity_task_scheduled_event_attributes
            if act.activity_type.name == RESOLVE_ACTIVITY:
                resolving[e.event_id] = await _decode(converter, act.input)
        elif kind == "activity_task_completed_event_attributes":
            done = e.activity_task_completed_event_attributes
            if done.scheduled_event_id in resolving:
                req = resolving.pop(done.scheduled_event_id)
                res = await _decode(converter, done.result)
                if isinstance(req, dict) and isinstance(res, dict):
                    facts.resolutions.append(
                        Resolution(
                            at,
                            str(req.get("step", "")),
                            list(res.get("users") or []),
                            list(res.get("roles") or []),
                            str(res.get("pick") or "all"),
                        )
                    )
        elif kind == "timer_started_event_attributes":
            summary = await _summary(converter, e)
            m = SLA_TIMER.match(summary or "")
            if m:
                where = m["where"]
                timers[e.timer_started_event_attributes.timer_id] = SlaFiring(
                    at, "" if where == "run" else where, m["level"]
                )
        elif kind == "timer_fired_event_attributes":
            firing = timers.pop(e.timer_fired_event_attributes.timer_id, None)
            if firing is not None:
                facts.sla.append(SlaFiring(at, firing.key, firing.level))
        elif kind in CLOSE_STATES:
            facts.closed_state, facts.closed_at = CLOSE_STATES[kind], at
            attrs = getattr(e, kind)
            if kind == "workflow_execution_failed_event_attributes":
                facts.close_error = attrs.failure.message or None
            elif kind == "workflow_execution_terminated_event_attributes":
                facts.close_error = attrs.reason or None
                facts.close_actor = attrs.identity or None
            else:
                facts.close_error = facts.close_actor = None
            facts.closings.append(
                Closing(at, facts.closed_state, facts.close_error, facts.close_actor)
            )
