"""The approval side of one run, inside the workflow: state plus the Temporal calls it makes.

`ApprovalState` (one per run, `rt.approvals`, see `state_of`) holds the
`ApprovalBook` of open tasks, the SLA levels already fired, signals ignored for
want of an open task, and the background tasks that deliver best-effort
notifications. It is attached to the interpreter's `Runtime` by
`workflows.steps.approval.install` and carried across continue-as-new in
`rt.ext["approvals"]` (flushed by a `before_carry` callback).

The helpers here are the only places that touch Temporal for approvals:
resolving assignees (activity), upserting `Assignees` (only when the union of
open tasks changed), notifying assignees (background activity, failures
ignored), reassigning a task.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

from workflows.approval_io import Resolved, ResolveRequest, TaskNotice
from workflows.approvals import MAX_IGNORED, ApprovalBook, ApprovalTask, Ignored
from workflows.io import DecideInput, PendingTask
from workflows.model import Assignees
from workflows.search_attributes import ASSIGNEES, TEMPLATE_NAME

if TYPE_CHECKING:
    from workflows.runtime import Runtime
    from workflows.sla import SlaWatch

RESOLVE_TIMEOUT = timedelta(seconds=30)
RESOLVE_RETRY = RetryPolicy(maximum_attempts=10, maximum_interval=timedelta(minutes=1))
NOTIFY_TIMEOUT = timedelta(seconds=30)
NOTIFY_RETRY = RetryPolicy(maximum_attempts=3, maximum_interval=timedelta(seconds=10))


class ApprovalState:
    """Open approvals, fired SLA levels and in-flight notifications of one run."""

    def __init__(
        self,
        book: ApprovalBook | None = None,
        fired: dict[str, list[int]] | None = None,
        ignored: list[Ignored] | None = None,
    ) -> None:
        self.rt: Runtime | None = None
        self.book = book or ApprovalBook()
        #: SLA levels already fired, by step address ("" = the run's own levels), as indexes
        self.fired: dict[str, list[int]] = fired or {}
        #: `decide` signals for no open task (the per-task ones live on the task)
        self.ignored: list[Ignored] = ignored or []
        self.run_watch: SlaWatch | None = None
        self._background: set[asyncio.Task[Any]] = set()

    # -- carry ---------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        return {
            "book": self.book.snapshot(),
            "fired": {k: list(v) for k, v in self.fired.items()},
            "ignored": [i.model_dump(mode="json") for i in self.ignored],
        }

    @classmethod
    def restore(cls, data: dict[str, Any] | None) -> ApprovalState:
        data = data or {}
        book = ApprovalBook.restore(data.get("book"))
        book.published = None  # re-read from the new run's search attributes
        return cls(
            book=book,
            fired={k: list(v) for k, v in (data.get("fired") or {}).items()},
            ignored=[Ignored.model_validate(i) for i in data.get("ignored") or []],
        )

    # -- views ---------------------------------------------------------------------

    def pending(self) -> list[PendingTask]:
        """Open tasks for the status document's `pending` (a `rt.pending_sources` entry)."""
        return self.book.pending()

    def publish(self) -> None:
        """After a task opened/changed/closed: `Assignees`, RunState and Web UI details."""
        assert self.rt is not None
        sync_assignees(self)
        self.rt.changed()

    def idle(self) -> bool:
        """No notification / SLA action in flight (a quiescent point for continue-as-new)."""
        return not self._background

    async def drain(self) -> None:
        """Wait for in-flight notifications (call before the run returns)."""
        await workflow.wait_condition(lambda: not self._background)

    # -- background work -----------------------------------------------------------

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        """Run `coro` in the background; continue-as-new waits for it (`rt.in_flight`)."""
        task = asyncio.create_task(self._in_flight(coro))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _in_flight(self, coro: Coroutine[Any, Any, Any]) -> None:
        assert self.rt is not None
        with self.rt.in_flight():
            await coro

    def ignore_orphan(self, d: DecideInput, err: ApplicationError) -> None:
        self.ignored.append(
            Ignored(
                step=d.step,
                actor=d.actor,
                outcome=d.outcome,
                at=workflow.now(),
                reason=err.type or "",
                error=err.message,
            )
        )
        del self.ignored[:-MAX_IGNORED]
        workflow.logger.warning("ignored decide signal from %r: %s", d.actor, err.message)


def state_of(rt: Runtime) -> ApprovalState:
    """The run's `ApprovalState` (attached by `workflows.steps.approval.install`)."""
    state: ApprovalState = rt.approvals  # type: ignore[attr-defined]
    return state


# -- Temporal calls ---------------------------------------------------------------------


async def resolve(state: ApprovalState, step: str, assignees: Assignees) -> Resolved:
    """Run `resolve_assignees` for `assignees` (users/roles/pick as written)."""
    assert state.rt is not None
    with state.rt.in_flight():
        return await workflow.execute_activity(
            "resolve_assignees",
            ResolveRequest(
                run_id=workflow.info().workflow_id,
                step=step,
                users=list(assignees.users),
                roles=list(assignees.roles),
                pick=assignees.pick,
            ),
            result_type=Resolved,
            start_to_close_timeout=RESOLVE_TIMEOUT,
            retry_policy=RESOLVE_RETRY,
            summary=f"{step}: resolve assignees",
        )


def sync_assignees(state: ApprovalState) -> None:
    """Upsert `Assignees` to the union over open tasks, only when it changed."""
    if state.book.published is None:
        current = workflow.info().typed_search_attributes.get(ASSIGNEES)
        state.book.published = sorted(current or [])
    keys = state.book.keys()
    if keys == state.book.published:
        return
    update = ASSIGNEES.value_set(keys) if keys else ASSIGNEES.value_unset()
    workflow.upsert_search_attributes([update])
    state.book.published = keys


def notify(state: ApprovalState, task: ApprovalTask, kind: str, actor: str | None = None) -> None:
    """Best-effort notice to the task's assignees; never awaited by the step."""
    if not task.emails:
        return  # nobody reachable: skip without spending history
    round_no = len(task.reassignments)
    notice = TaskNotice(
        kind=kind,  # type: ignore[arg-type]
        run_id=workflow.info().workflow_id,
        step=task.step,
        idempotency_key=f"{workflow.info().workflow_id}/{task.step}/task/{kind}/{round_no}",
        template=workflow.info().typed_search_attributes.get(TEMPLATE_NAME),
        emails=list(task.emails),
        outcomes=list(task.outcomes),
        due_at=task.due_at,
        decision=task.decision,
        actor=actor,
        recipients=dict(task.contacts) if kind != "decided" else {},
        on_behalf_of=task.stands_for() if kind != "decided" else {},
    )
    state.spawn(_notify(notice))


async def _notify(notice: TaskNotice) -> None:
    try:
        await workflow.execute_activity(
            "notify_task",
            notice,
            start_to_close_timeout=NOTIFY_TIMEOUT,
            retry_policy=NOTIFY_RETRY,
            summary=f"{notice.step}: notify {notice.kind}",
        )
    except ActivityError as exc:
        workflow.logger.warning("notification %s failed (ignored): %s", notice.idempotency_key, exc)


async def reassign(
    state: ApprovalState, task: ApprovalTask, to: Assignees, actor: str, reason: str
) -> bool:
    """Resolve `to` and hand the task over (the count starts again). False if decided meanwhile."""
    resolved = await resolve(state, task.step, to)
    if task.decision is not None or state.book.get(task.step) is not task:
        return False
    task.reassign(resolved, actor, reason, workflow.now())
    assert state.rt is not None
    if task.step in state.rt.statuses:
        state.rt.statuses[task.step].output = task.output()
    state.rt.set_detail(task.step, detail(task))
    state.publish()
    notify(state, task, "reassigned", actor)
    return True


def detail(task: ApprovalTask) -> str:
    """The Web UI's `detail` cell of a waiting approval."""
    return "waiting for " + ", ".join(task.keys() or ["(nobody resolved: admin or reassign)"])
