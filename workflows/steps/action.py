"""`action: NAME` + `with:` — one activity call (SPEC §2, §4)."""

from __future__ import annotations

from datetime import timedelta
from functools import lru_cache
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, RetryState

from workflows.attempts import ATTEMPT_KEY, unwrap_result
from workflows.durations import parse_duration
from workflows.expressions import render
from workflows.io import ActionRequest
from workflows.model import Retry
from workflows.scope import LazyScope
from workflows.steps.base import StepContext

DEFAULT_TIMEOUT = timedelta(minutes=5)
HEARTBEAT_TIMEOUT = timedelta(seconds=30)


@lru_cache(maxsize=512)
def _duration(text: str) -> timedelta:
    return parse_duration(text)


def retry_policy(retry: Retry | None) -> RetryPolicy:
    r = retry or Retry()
    key = (r.initial_interval, r.backoff, r.max_interval, r.max_attempts, tuple(r.non_retryable))
    return _policy(*key)


@lru_cache(maxsize=512)
def _policy(
    initial: str, backoff: float, maximum: str, attempts: int, non_retryable: tuple[str, ...]
) -> RetryPolicy:
    return RetryPolicy(
        initial_interval=_duration(initial),
        backoff_coefficient=backoff,
        maximum_interval=_duration(maximum),
        maximum_attempts=attempts,
        non_retryable_error_types=list(non_retryable) or None,
    )


def _failed_attempts(err: ActivityError, retry: Retry | None) -> int | None:
    """Attempts of a failed activity: exact when retries ran out, else from the failure."""
    cause = err.cause
    details = getattr(cause, "details", None) or ()
    for d in reversed(details):
        if isinstance(d, dict) and ATTEMPT_KEY in d:
            return int(d[ATTEMPT_KEY])
    if err.retry_state == RetryState.MAXIMUM_ATTEMPTS_REACHED:
        return (retry or Retry()).max_attempts
    return None


async def run(ctx: StepContext) -> Any:
    rt, step = ctx.rt, ctx.step
    params = render(step.with_ or {}, LazyScope(ctx.scope))
    req = ActionRequest(
        run_id=rt.run_id,
        step=ctx.address,
        idempotency_key=f"{rt.run_id}/{ctx.address}",
        params=params,
        connection=rt.inp.connection_for(step.with_),
        report_attempt=True,
    )
    with rt.in_flight():
        try:
            result = await workflow.execute_activity(
                step.action or "",
                req,
                start_to_close_timeout=_duration(step.timeout) if step.timeout else DEFAULT_TIMEOUT,
                retry_policy=retry_policy(step.retry),
                # actions heartbeat every <= 5 s (activities.registry): a dead worker or a
                # cancellation is noticed within this, not after the whole timeout
                heartbeat_timeout=HEARTBEAT_TIMEOUT,
                summary=ctx.address,
            )
        except ActivityError as e:
            ctx.status.attempts = _failed_attempts(e, step.retry)
            raise
    output, attempts = unwrap_result(result)
    ctx.status.attempts = attempts
    return output
