"""Run event subscriptions (SPEC §14), on the run's side: a listener of its events.

The API pins the subscriptions matching a run's templates and tags at start
(`RunInput.subscriptions`; carried to continue-as-new, subflow children and
redrives). `install(rt)` adds a listener only when one of them matches this run
(its template and tags): a run matching none pays nothing — no listener, no
history event.

The listener maps engine events (workflows.engine.events) to subscription types —
`run.started`; `run.closed` → `run.completed|failed|cancelled`; `run.state` →
`run.waiting|held`; `approval.opened`, `approval.decided`, `sla.fired` — builds the
delivery body `{id, type, at, run_id, template, version, step?, actor?, data}` (`id`:
a replay-stable uuid, the `X-Delivery-Id`) and queues it in the run's `Outbox`. The
outbox hands queued events over in order, in one `hand_over` *local* activity per
batch (the events of one workflow task travel together), to the run's
`SubscriptionDeliveries` workflow (workflows.engine.deliveries), which does the
delivering and retrying. History cost for a matching run: one `MarkerRecorded` event
per batch, nothing per retry. Continue-as-new waits for the hand-over (it is
background work, `rt.spawn`); so does the run's close (`rt.after_close`), which
hands over `run.closed` itself.

Workflow code only: deterministic, no I/O.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy

from workflows.engine import events
from workflows.engine.deliveries import HAND_OVER, HandOver, Outgoing
from workflows.engine.events import RunEvent
from workflows.engine.io import PinnedSubscription
from workflows.engine.runtime import Runtime

#: every subscribable event type (SPEC §14)
TYPES = (
    "run.started",
    "run.completed",
    "run.failed",
    "run.cancelled",
    "run.waiting",
    "run.held",
    "approval.opened",
    "approval.decided",
    "sla.fired",
)
_CLOSED = {"completed": "run.completed", "failed": "run.failed", "cancelled": "run.cancelled"}
_STATES = {"waiting": "run.waiting", "held": "run.held"}
_SAME = {events.RUN_STARTED, events.APPROVAL_OPENED, events.APPROVAL_DECIDED, events.SLA_FIRED}


def subscription_type(e: RunEvent) -> str | None:
    """The subscription type of an engine event (None: not subscribable)."""
    if e.type in _SAME:
        return e.type
    if e.type == events.RUN_CLOSED:
        return _CLOSED.get(str(e.data.get("state")))
    if e.type == events.RUN_STATE:
        return _STATES.get(str(e.data.get("state")))
    return None


def applies(sub: PinnedSubscription, template: str, tags: dict[str, str]) -> bool:
    """Whether `sub` watches runs of `template` with `tags`."""
    if sub.template is not None and sub.template != template:
        return False
    return all(tags.get(k) == v for k, v in sub.tags.items())


class Outbox:
    """The run's events waiting to be handed over, in order (one hand-over at a time)."""

    def __init__(self, rt: Runtime, subs: list[PinnedSubscription]) -> None:
        self.rt, self.subs = rt, subs
        self.queue: list[Outgoing] = []
        self.busy = False

    def on_event(self, e: RunEvent) -> None:
        kind = subscription_type(e)
        if kind is None or (kind == "run.started" and self.rt.generation):
            return
        wanted = [s for s in self.subs if kind in s.events]
        if not wanted:
            return
        plan = self.rt.inp.plan
        body: dict[str, Any] = {
            "id": str(workflow.uuid4()),
            "type": kind,
            "at": workflow.now().isoformat(),
            "run_id": self.rt.run_id,
            "template": plan.name,
            "version": plan.version,
        }
        if e.step is not None:
            body["step"] = e.step
        if e.actor is not None:
            body["actor"] = e.actor
        body["data"] = dict(e.data)
        self.queue.extend(Outgoing(subscription=s, event=body) for s in wanted)
        if not self.busy:
            self.busy = True
            self.rt.spawn(self._flush())

    async def _flush(self) -> None:
        try:
            while self.queue:
                batch, self.queue = self.queue, []
                await workflow.execute_local_activity(
                    HAND_OVER,
                    HandOver(run_id=self.rt.run_id, items=batch),
                    start_to_close_timeout=timedelta(seconds=10),
                    retry_policy=RetryPolicy(maximum_interval=timedelta(seconds=30)),
                )
        finally:
            self.busy = False

    async def flushed(self) -> None:
        """Wait until everything emitted so far was handed over (`rt.after_close`)."""
        await workflow.wait_condition(lambda: not self.busy and not self.queue)


def install(rt: Runtime) -> Outbox | None:
    """Deliver the run's events to the pinned subscriptions that match it (if any)."""
    inp = rt.inp
    subs = [s for s in inp.subscriptions if applies(s, inp.plan.name, inp.tags)]
    if not subs:
        return None
    outbox = Outbox(rt, subs)
    rt.listeners.append(outbox.on_event)
    rt.after_close.append(outbox.flushed)
    return outbox
