"""A minimal workflow that runs one action by name with a chosen RetryPolicy.

The real interpreter does the same thing for `action:` steps; this keeps the
action tests independent of it while still exercising Temporal's own retries,
heartbeat timeouts and cancellation.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pydantic import BaseModel
from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from workflows.engine.io import ActionRequest


class Call(BaseModel):
    action: str
    request: ActionRequest
    max_attempts: int = 3
    initial_interval: float = 0.05
    timeout: float = 10.0
    heartbeat_timeout: float | None = None


@workflow.defn
class CallAction:
    @workflow.run
    async def run(self, call: Call) -> dict[str, Any]:
        return await workflow.execute_activity(
            call.action,
            call.request,
            start_to_close_timeout=timedelta(seconds=call.timeout),
            heartbeat_timeout=(
                timedelta(seconds=call.heartbeat_timeout) if call.heartbeat_timeout else None
            ),
            retry_policy=RetryPolicy(
                initial_interval=timedelta(seconds=call.initial_interval),
                backoff_coefficient=1.0,
                maximum_attempts=call.max_attempts,
            ),
            result_type=dict,
        )
