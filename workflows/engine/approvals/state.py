"""The approval side of one run, inside the workflow: state plus the Temporal calls it makes.

`ApprovalState` (one per run, `state_of(rt)`) holds the `ApprovalBook` of open tasks
and the `decide` signals ignored for want of an open task. `install` attaches it to
the interpreter's `Runtime`, carries it across continue-as-new in
`rt.ext["approvals"]` and offers the book's open tasks to SLA levels (it is the SLA's
`Escalations`).

The helpers here are the only places that touch Temporal for approvals: resolving
assignees (activity), upserting `Assignees` (only when the union of open tasks
changed), notifying assignees (background activity, failures ignored), reassigning
a task.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

from workflows.engine import sla, testmode
from workflows.engine.approvals.book import ApprovalBook
from workflows.engine.approvals.io import Resolved, ResolveRequest, TaskNotice
from workflows.engine.approvals.records import MAX_IGNORED, Ignored
from workflows.engine.approvals.task import ApprovalTask
from workflows.engine.io import DecideInput, PendingTask
from workflows.engine.runtime import Runtime
from workflows.engine.search_attributes import ASSIGNEES, TEMPLATE_NAME
from workflows.language.model import Assignees

RESOLVE_TIMEOUT = timedelta(seconds=30)
RESOLVE_RETRY = RetryPolicy(maximum_attempts=10, maximum_interval=timedelta(minutes=1))
NOTIFY_TIMEOUT = timedelta(seconds=30)
NOTIFY_RETRY = RetryPolicy(maximum_attempts=3, maximum_interval=timedelta(seconds=10))


class ApprovalState:
    """Open approvals of one run and the signals ignored for want of a task."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        data = rt.ext.get("approvals") or {}
        self.book = ApprovalBook.restore(data.get("book"))
        self.book.published = None  # re-read from this execution's search attributes
        #: `decide` signals for no open task (the per-task ones live on the task)
        self.ignored: list[Ignored] = [Ignored.model_validate(i) for i in data.get("ignored") or []]

    def snapshot(self) -> dict[str, Any]:
        return {
            "book": self.book.snapshot(),
            "ignored": [i.model_dump(mode="json") for i in self.ignored],
        }

    def pending(self) -> list[PendingTask]:
        """Open tasks for the status document's `pending` (a `rt.pending_sources` entry)."""
        return self.book.pending()

    def publish(self) -> None:
        """After a task opened/changed/closed: `Assignees`, RunState and Web UI details."""
        sync_assignees(self)
        self.rt.changed()

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

    # -- sla.Escalations -----------------------------------------------------------

    def open_tasks(self, key: str) -> Sequence[ApprovalTask]:
        return [
            t
            for k, t in self.book.tasks.items()
            if (key == sla.RUN or k == key) and t.decision is None
        ]

    async def reassign(self, task: Any, to: Assignees, reason: str) -> None:
        await reassign(self, task, to, "sla", reason)


def state_of(rt: Runtime) -> ApprovalState:
    """The run's `ApprovalState` (attached by `install`)."""
    state: ApprovalState = rt.plugins["approvals"]
    return state


def install(rt: Runtime) -> ApprovalState:
    """Attach the approval state and hooks to a new Runtime (restored after continue-as-new)."""
    state = ApprovalState(rt)
    rt.plugins["approvals"] = state
    rt.before_carry.append(lambda: rt.ext.__setitem__("approvals", state.snapshot()))
    rt.pending_sources.append(state.pending)
    sla.state_of(rt).escalations = state
    return state


# -- Temporal calls ---------------------------------------------------------------------


async def resolve(state: ApprovalState, step: str, assignees: Assignees) -> Resolved:
    """Run `resolve_assignees` for `assignees` (users/roles/pick as written)."""
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
    if state.rt.inp.test is not None:  # a template test has no search attributes
        return
    if state.book.published is None:
        current = workflow.info().typed_search_attributes.get(ASSIGNEES)
        state.book.published = sorted(current or [])
    keys = state.book.keys()
    extra = [k for source in state.rt.assignee_sources for k in source()]
    if extra:  # held steps ask for operators (workflows.engine.incidents)
        keys = sorted({*keys, *extra})
    if keys == state.book.published:
        return
    update = ASSIGNEES.value_set(keys) if keys else ASSIGNEES.value_unset()
    workflow.upsert_search_attributes([update])
    state.book.published = keys


def notify(state: ApprovalState, task: ApprovalTask, kind: str, actor: str | None = None) -> None:
    """Best-effort notice to the task's assignees; never awaited by the step."""
    if not task.emails:
        return  # nobody reachable: skip without spending history
    test = testmode.of(state.rt)
    if test is not None:  # a template test sends no notification
        test.note(task.step, "notification.suppressed", kind=f"task {kind}", to=list(task.emails))
        return
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
    state.rt.spawn(_notify(notice))


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
    if task.step in state.rt.statuses:
        state.rt.statuses[task.step].output = task.output()
    state.rt.set_detail(task.step, detail(task))
    state.publish()
    notify(state, task, "reassigned", actor)
    return True


def detail(task: ApprovalTask) -> str:
    """The Web UI's `detail` cell of a waiting approval."""
    return "waiting for " + ", ".join(task.keys() or ["(nobody resolved: admin or reassign)"])
