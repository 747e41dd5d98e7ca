"""`SubscriptionDeliveries`: the durable deliverer of one run's subscribed events (SPEC §14).

One workflow per run (id `deliverer_id(run_id)`), started or signalled by the run's
`hand_over` local activity (signal-with-start, `activities.subscriptions`) with a
`Batch` of events in the order the run emitted them. It keeps one queue per
subscription and delivers each queue strictly in order, one `deliver` activity per
event: Temporal retries it with backoff (`RetrySpec`, default 1 s doubling to 5 min,
for 24 h), across worker restarts, and a completed delivery is never sent again. A
delivery that fails for good (a 4xx, the egress policy, 24 h of errors) is marked
`failed` in the delivery log by `give_up`, and the queue moves on.

So a run never waits for a receiver: it hands events over and goes on (or closes);
this workflow outlives it. Idle for `RetrySpec.idle` seconds with nothing queued, it
completes; the next event of the run (a redrive) starts a new one. A batch handed
over twice (the local activity retried) is delivered once (`seen`).

Workflow code only: deterministic, no I/O.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from pydantic import BaseModel, Field
from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

# passed through the sandbox: the run's models, not a second copy per deliverer
with workflow.unsafe.imports_passed_through():
    from workflows.engine.io import PinnedSubscription

WORKFLOW_NAME = "SubscriptionDeliveries"
SIGNAL = "deliver"
DELIVER = "relayflow.subscriptions.deliver"
GIVE_UP = "relayflow.subscriptions.give_up"
HAND_OVER = "relayflow.subscriptions.hand_over"
#: (subscription, event) pairs remembered against duplicate hand-overs
SEEN_MAX = 2000


def deliverer_id(run_id: str) -> str:
    return f"subscriptions:{run_id}"


class RetrySpec(BaseModel):
    """How deliveries are retried (from the worker's settings when the deliverer starts)."""

    initial: float = 1.0
    maximum: float = 300.0
    #: give up after this many seconds (SPEC §14: 24 h)
    total: float = 86400.0
    #: one attempt's time limit
    attempt: float = 30.0
    #: complete after this many seconds with nothing queued
    idle: float = 60.0


class Outgoing(BaseModel):
    """One event for one subscription: the envelope is the JSON body that is POSTed."""

    subscription: PinnedSubscription
    event: dict[str, Any]


class Batch(BaseModel):
    """Payload of the `deliver` signal: events in the order the run emitted them."""

    items: list[Outgoing] = Field(default_factory=list)


class HandOver(BaseModel):
    """Input of the run's `hand_over` local activity."""

    run_id: str
    items: list[Outgoing] = Field(default_factory=list)


class DeliveriesInput(BaseModel):
    run_id: str
    retry: RetrySpec = Field(default_factory=RetrySpec)
    #: carried across continue-as-new
    pending: list[Outgoing] = Field(default_factory=list)
    seen: list[str] = Field(default_factory=list)


class GiveUpInput(BaseModel):
    item: Outgoing
    error: str


def _key(item: Outgoing) -> str:
    return f"{item.subscription.id}/{item.event.get('id')}"


@workflow.defn(name=WORKFLOW_NAME)
class SubscriptionDeliveries:
    @workflow.init
    def __init__(self, inp: DeliveriesInput) -> None:
        self.retry = inp.retry
        self.queues: dict[str, list[Outgoing]] = {}
        self.active: set[str] = set()
        self.seen: list[str] = list(inp.seen)
        self._seen = set(self.seen)
        for item in inp.pending:
            self._enqueue(item, check=False)

    @workflow.signal(name=SIGNAL)
    def deliver(self, batch: Batch) -> None:
        for item in batch.items:
            self._enqueue(item)

    def _enqueue(self, item: Outgoing, check: bool = True) -> None:
        key = _key(item)
        if check and key in self._seen:
            return
        if key not in self._seen:
            self._seen.add(key)
            self.seen.append(key)
            if len(self.seen) > SEEN_MAX:
                self._seen.discard(self.seen.pop(0))
        sub = item.subscription.id
        self.queues.setdefault(sub, []).append(item)
        if sub not in self.active:
            self.active.add(sub)
            asyncio.create_task(self._drain(sub))

    async def _drain(self, sub: str) -> None:
        """Deliver one subscription's queue in order."""
        queue = self.queues[sub]
        r = self.retry
        policy = RetryPolicy(
            initial_interval=timedelta(seconds=r.initial),
            backoff_coefficient=2.0,
            maximum_interval=timedelta(seconds=max(r.maximum, r.initial)),
        )
        while queue:
            item = queue[0]
            try:
                await workflow.execute_activity(
                    DELIVER,
                    item,
                    schedule_to_close_timeout=timedelta(seconds=r.total),
                    start_to_close_timeout=timedelta(seconds=r.attempt),
                    retry_policy=policy,
                )
            except ActivityError as e:
                cause = e.cause if e.cause is not None else e
                await workflow.execute_activity(
                    GIVE_UP,
                    GiveUpInput(item=item, error=str(cause) or type(cause).__name__),
                    start_to_close_timeout=timedelta(seconds=30),
                )
            queue.pop(0)
        self.active.discard(sub)

    @workflow.run
    async def run(self, inp: DeliveriesInput) -> None:
        while True:
            await workflow.wait_condition(lambda: not self.active)
            if workflow.info().is_continue_as_new_suggested():
                workflow.continue_as_new(
                    DeliveriesInput(run_id=inp.run_id, retry=self.retry, seen=self.seen)
                )
            try:
                await workflow.wait_condition(
                    lambda: bool(self.active), timeout=timedelta(seconds=self.retry.idle)
                )
            except TimeoutError:
                if not self.active:  # a signal may have come with the timer
                    return
