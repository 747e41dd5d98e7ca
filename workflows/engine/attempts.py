"""Truthful `attempts` for action steps at no history cost.

Temporal does not tell a workflow which attempt of an activity succeeded. The worker
installs `AttemptInterceptor`; for an `ActionRequest` with `report_attempt=True`
(the interpreter sets it) it wraps the activity's result as
`{ATTEMPT_KEY: n, "result": <output>}` and appends `{ATTEMPT_KEY: n}` to the details
of the final `ApplicationError`. The payload grows by a few bytes; no event is added.
A worker without the interceptor returns plain results: `attempts` is then null
unless retries ran out (then it is exactly `max_attempts`).
"""

from __future__ import annotations

from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
)

from workflows.engine.io import ActionRequest

ATTEMPT_KEY = "__relayflow_attempt__"


def unwrap_result(result: Any) -> tuple[Any, int | None]:
    """(output, attempt) of an action's result, wrapped by the interceptor or not."""
    if isinstance(result, dict) and ATTEMPT_KEY in result and "result" in result:
        return result["result"], int(result[ATTEMPT_KEY])
    return result, None


class _Inbound(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        req = input.args[0] if input.args else None
        if not (isinstance(req, ActionRequest) and req.report_attempt):
            return await super().execute_activity(input)
        attempt = activity.info().attempt
        try:
            result = await super().execute_activity(input)
        except ApplicationError as e:
            raise ApplicationError(
                e.message,
                *e.details,
                {ATTEMPT_KEY: attempt},
                type=e.type,
                non_retryable=e.non_retryable,
                next_retry_delay=e.next_retry_delay,
                category=e.category,
            ) from e.__cause__
        except Exception as e:
            if isinstance(e, activity._CompleteAsyncError):
                raise
            raise ApplicationError(
                f"{type(e).__name__}: {e}", {ATTEMPT_KEY: attempt}, type=type(e).__name__
            ) from e
        return {ATTEMPT_KEY: attempt, "result": result}


class AttemptInterceptor(Interceptor):
    """Worker interceptor: reports the attempt number of interpreter action calls."""

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _Inbound(next)
