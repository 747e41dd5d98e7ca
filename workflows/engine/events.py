"""What happens in a run, as events: the one hook for everything that watches runs.

The engine emits a `RunEvent` at each point below (`Runtime.emit`); listeners installed
on the runtime (`rt.listeners`) react — the Prometheus series (`workflows.engine.metrics`)
and, where a run has them, its event subscriptions. Emitting is plain workflow code: a
listener that needs no history (metrics) costs none, one that calls an activity pays
for that activity only.

| type | when | step | actor | data |
|---|---|---|---|---|
| `run.started` | the first execution of a run begins | | starter | |
| `run.state` | the published `RunState` changes (waiting, held, paused, running) | | | state |
| `step.finished` | a step reaches a final state | address | | state, kind, seconds |
| `approval.opened` | an approval task opens | address | | assignees, outcomes, due_at |
| `approval.decided` | an approval task ends with an outcome | address | who decided | outcome, seconds |
| `sla.fired` | an SLA level fires | address (None: run level) | | level |
| `run.closed` | the run ends (completed, failed, cancelled) | failed step | | state, error |
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

RUN_STARTED = "run.started"
RUN_STATE = "run.state"
STEP_FINISHED = "step.finished"
APPROVAL_OPENED = "approval.opened"
APPROVAL_DECIDED = "approval.decided"
SLA_FIRED = "sla.fired"
RUN_CLOSED = "run.closed"


@dataclass(frozen=True)
class RunEvent:
    type: str
    step: str | None = None
    actor: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


Listener = Callable[[RunEvent], None]
