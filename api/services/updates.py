"""Workflow updates with a time limit and a truthful answer (`decide`, `reassign`, ...).

Without a worker, an update waits in Temporal and used to be applied whenever a
worker came back — after the caller had long given up. Here:

1. the input carries `expires_at` = now + the time limit − a margin; the
   workflow's update validator refuses (`Expired`) anything it sees later;
2. the API waits up to the time limit (`DECISION_TIMEOUT`, 30 s) for the result;
3. if none came, it asks Temporal for the update's stage: accepted means it is
   being applied, so the API waits briefly for that result and returns it;
   otherwise it answers 504 — and the update can no longer be applied: when a
   worker picks it up, the validator refuses it (it writes nothing to history).

A vote answered with 504 therefore never counts; the caller decides again when
the run is back. (This assumes the API's and Temporal's clocks agree within the
margin.)
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from pydantic import BaseModel
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import UpdateWorkflowExecutionLifecycleStage as Stage
from temporalio.api.update.v1 import UpdateRef, WaitPolicy
from temporalio.api.workflowservice.v1 import PollWorkflowExecutionUpdateRequest
from temporalio.client import Client, WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.service import RPCError

from api.errors import Timeout

R = TypeVar("R")

#: how long after giving up the API still waits for an update it finds accepted
ACCEPTED_WAIT = 5.0


def margin(limit: float) -> float:
    """The gap between the run's deadline and the API's: updates accepted by the run
    are accepted early enough to be answered in time."""
    return min(2.0, limit / 4)


async def _stage(client: Client, run_id: str, update_id: str) -> int | None:
    """The update's lifecycle stage as Temporal knows it now (None: unknown)."""
    request = PollWorkflowExecutionUpdateRequest(
        namespace=client.namespace,
        update_ref=UpdateRef(
            workflow_execution=WorkflowExecution(workflow_id=run_id), update_id=update_id
        ),
        identity=client.identity,
        wait_policy=WaitPolicy(lifecycle_stage=Stage.UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_ADMITTED),
    )
    try:
        response = await client.workflow_service.poll_workflow_execution_update(
            request, timeout=timedelta(seconds=2)
        )
    except RPCError:
        return None
    return int(response.stage)


async def execute(
    client: Client,
    run_id: str,
    name: str,
    arg: BaseModel,
    result_type: type[R],
    limit: float,
) -> R:
    """Run update `name` with `arg` (a model with `expires_at`); `Timeout` after `limit` s."""
    expires = datetime.now(UTC) + timedelta(seconds=limit - margin(limit))
    arg = arg.model_copy(update={"expires_at": expires})
    update_id = f"{name}-{uuid.uuid4()}"
    handle = client.get_workflow_handle(run_id)

    async def call() -> Any:
        return await handle.execute_update(
            name,
            arg,
            id=update_id,
            result_type=result_type,
            rpc_timeout=timedelta(seconds=limit + 1),
        )

    try:
        async with asyncio.timeout(limit):
            result: R = await call()
            return result
    except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError):
        pass  # the SDK reports its cancelled call as the latter
    stage = await _stage(client, run_id, update_id)
    accepted = (
        Stage.UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_ACCEPTED,
        Stage.UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_COMPLETED,
    )
    if stage in accepted:
        try:
            async with asyncio.timeout(ACCEPTED_WAIT):
                late: R = await handle.get_update_handle(update_id, result_type=result_type).result(
                    rpc_timeout=timedelta(seconds=ACCEPTED_WAIT + 1)
                )
                return late
        except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError):
            pass
        raise Timeout(
            f"run {run_id!r} accepted the {name} but did not finish it within {limit:g} s; "
            "it is being applied: read the run to see it"
        )
    raise Timeout(
        f"run {run_id!r} did not take the {name} within {limit:g} s (is a worker running?); "
        "it was not applied and will not be: send it again when the run is back"
    )
