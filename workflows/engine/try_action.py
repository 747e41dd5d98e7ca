"""`ActionTest`: one action, once, on a worker (SPEC §13, `POST /actions/{name}/test`).

A tiny workflow type — not `TemplateWorkflow`, so it is never listed as a run nor
ingested by analytics — that executes ONE activity: the action registered as
`action`, with the same `ActionRequest` a run's step sends, on the real workers'
task queue (`task_queue`), with `maximum_attempts=1`. The activity therefore takes
the production path: params model, `secret:` fields, the pinned connection, the
egress policy, error classification. The result is the answer of the endpoint:
`{ok, output?, error?, error_type?, retryable?, duration_ms}`.

Why a workflow and not a direct activity start: Temporal starts activities only from
workflows (standalone activities are not available on every server), and a workflow
gives the call a timeout, a record in history and cancellation for free.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pydantic import BaseModel
from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, TimeoutError, TimeoutType

with workflow.unsafe.imports_passed_through():
    from workflows.engine.io import ActionRequest
    from workflows.engine.scheduler import failure_message

WORKFLOW_TYPE = "ActionTest"
HEARTBEAT_TIMEOUT = timedelta(seconds=30)


class ActionTestInput(BaseModel):
    action: str
    request: ActionRequest
    #: the real workers' task queue (TASK_QUEUE)
    task_queue: str
    #: how long a worker may take to pick the call up, and then to finish it
    timeout_seconds: float = 60.0


@workflow.defn(name=WORKFLOW_TYPE)
class ActionTestWorkflow:
    @workflow.run
    async def run(self, inp: ActionTestInput) -> dict[str, Any]:
        limit = timedelta(seconds=inp.timeout_seconds)
        started = workflow.now()
        try:
            output = await workflow.execute_activity(
                inp.action,
                inp.request,
                task_queue=inp.task_queue,
                schedule_to_start_timeout=limit,
                start_to_close_timeout=limit,
                heartbeat_timeout=HEARTBEAT_TIMEOUT,
                retry_policy=RetryPolicy(maximum_attempts=1),
                summary=f"test of action {inp.action}",
            )
        except ActivityError as err:
            return {**_failure(err, inp), "duration_ms": _ms(started)}
        return {"ok": True, "output": output, "duration_ms": _ms(started)}


def _failure(err: ActivityError, inp: ActionTestInput) -> dict[str, Any]:
    cause = err.cause
    if isinstance(cause, TimeoutError):
        if cause.type == TimeoutType.SCHEDULE_TO_START:
            message = (
                f"no worker took the call within {inp.timeout_seconds:g} s "
                f"(is a worker polling task queue {inp.task_queue!r}?)"
            )
        else:
            message = f"the action did not finish within {inp.timeout_seconds:g} s"
        return {"ok": False, "error": message, "error_type": "Timeout", "retryable": True}
    retryable = not (isinstance(cause, ApplicationError) and cause.non_retryable)
    error_type = cause.type if isinstance(cause, ApplicationError) else type(cause).__name__
    return {
        "ok": False,
        "error": failure_message(err),
        "error_type": error_type,
        "retryable": retryable,
    }


def _ms(started: Any) -> int:
    return max(int((workflow.now() - started).total_seconds() * 1000), 0)
