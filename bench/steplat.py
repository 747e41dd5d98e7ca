"""Per-step latency read from a run's history (event timestamps written by the server).

For every activity of a closed run, three gaps, in seconds:

- ``react``: ActivityTaskScheduled − the latest ActivityTaskCompleted (or, for the
  first activities, WorkflowExecutionStarted) before it: the time the *workflow side*
  took to turn that completion into the next command (workflow task scheduled,
  polled, activation run, commands sent) — where the engine's own per-step work shows;
- ``dispatch``: ActivityTaskStarted − ActivityTaskScheduled (activity poll latency);
- ``exec``: ActivityTaskCompleted − ActivityTaskStarted (the activity incl. any wrapper,
  plus the completion's trip back).

``step`` = react + dispatch + exec, the whole cycle one step adds to a linear run.
Also the `identities` of the workers that started each activity (scale-out bench).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from temporalio.api.enums.v1 import EventType

from bench.common import percentile

STARTED = EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED
SCHEDULED = EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
ACT_STARTED = EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
COMPLETED = EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED

KINDS = ("react", "dispatch", "exec", "step")


@dataclass(frozen=True)
class Ev:
    """The few fields of a history event this module reads."""

    id: int
    type: int
    time: float
    scheduled_id: int = 0  # for activity started/completed events
    identity: str = ""  # for activity started events


def from_history(events: list[Any]) -> list[Ev]:
    """`Ev`s of protobuf `HistoryEvent`s."""
    out = []
    for e in events:
        t = float(e.event_time.seconds) + e.event_time.nanos / 1e9
        sched, ident = 0, ""
        if e.event_type == ACT_STARTED:
            a = e.activity_task_started_event_attributes
            sched, ident = a.scheduled_event_id, a.identity
        elif e.event_type == COMPLETED:
            sched = e.activity_task_completed_event_attributes.scheduled_event_id
        out.append(Ev(e.event_id, e.event_type, t, sched, ident))
    return out


@dataclass
class StepGaps:
    """Gaps (seconds) of every activity of the runs added so far."""

    gaps: dict[str, list[float]] = field(default_factory=lambda: {k: [] for k in KINDS})
    identities: Counter[str] = field(default_factory=Counter)

    def add(self, events: list[Ev]) -> None:
        last_done: float | None = None
        scheduled: dict[int, float] = {}
        react: dict[int, float] = {}
        started: dict[int, float] = {}
        for e in events:
            if e.type == STARTED:
                last_done = e.time
            elif e.type == SCHEDULED:
                scheduled[e.id] = e.time
                if last_done is not None:
                    react[e.id] = e.time - last_done
            elif e.type == ACT_STARTED:
                started[e.scheduled_id] = e.time
                self.identities[e.identity] += 1
            elif e.type == COMPLETED:
                last_done = e.time
                sid = e.scheduled_id
                if sid in scheduled and sid in started and sid in react:
                    r, d, x = react[sid], started[sid] - scheduled[sid], e.time - started[sid]
                    for kind, value in zip(KINDS, (r, d, x, r + d + x), strict=True):
                        self.gaps[kind].append(value)

    def summary(self) -> dict[str, Any]:
        """p50 / p99 ms of each gap kind, and the number of steps."""
        out: dict[str, Any] = {"steps": len(self.gaps["step"])}
        for kind in KINDS:
            out[f"{kind}_p50_ms"] = percentile(self.gaps[kind], 50) * 1000
            out[f"{kind}_p99_ms"] = percentile(self.gaps[kind], 99) * 1000
        return out


def added(side: dict[str, Any], base: dict[str, Any]) -> dict[str, float]:
    """What `side` adds per step over `base` (two `StepGaps.summary()`s), in ms."""
    return {
        f"{kind}_{q}_ms": side[f"{kind}_{q}_ms"] - base[f"{kind}_{q}_ms"]
        for kind in KINDS
        for q in ("p50", "p99")
    }
