"""Turning Temporal client errors about one run into API domain errors."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from temporalio.client import (
    Client,
    WorkflowExecutionDescription,
    WorkflowExecutionStatus,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from api.errors import (
    Conflict,
    ErrorItem,
    Forbidden,
    Invalid,
    NotFound,
    RelayflowError,
    Timeout,
    Unavailable,
    loc_str,
)
from workflows.engine.approvals.errors import ApprovalError
from workflows.engine.incidents import ResolveError

#: ApplicationError types raised by the workflow's update validators
UPDATE_ERRORS: dict[str, type[RelayflowError]] = {
    ApprovalError.NOT_ASSIGNEE: Forbidden,
    ApprovalError.NOT_AWAITING: Conflict,
    ApprovalError.ALREADY_VOTED: Conflict,
    ApprovalError.OUTCOME_NOT_ALLOWED: Conflict,
    ApprovalError.INVALID_FORM: Invalid,
    ApprovalError.INVALID_REASSIGN: Invalid,
    ApprovalError.SELF_APPROVAL: Forbidden,
    ApprovalError.NOT_ALLOWED: Forbidden,
    ApprovalError.ALREADY_ASSIGNEE: Conflict,
    ApprovalError.EXPIRED: Timeout,
    ResolveError.NOT_HELD: Conflict,
    ResolveError.INVALID: Invalid,
}


async def describe(client: Client, run_id: str) -> WorkflowExecutionDescription:
    """describe() of the run's latest execution; 404 when there is no such run."""
    try:
        return await client.get_workflow_handle(run_id).describe()
    except RPCError as e:
        raise rpc_error(e, run_id) from None


def missing_run(run_id: str) -> NotFound:
    """The 404 of a run that does not exist — also what a caller who may not read it gets."""
    return NotFound(f"run {run_id!r} does not exist")


def rpc_error(e: RPCError, run_id: str) -> RelayflowError:
    if e.status == RPCStatusCode.NOT_FOUND:
        return missing_run(run_id)
    if e.status == RPCStatusCode.INVALID_ARGUMENT:
        return Invalid(f"Temporal rejected the request: {e.message}")
    if e.status in (RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.CANCELLED):
        return Timeout(f"Temporal did not answer in time for run {run_id!r}")
    if e.status == RPCStatusCode.UNAVAILABLE:
        return Unavailable(f"Temporal is unavailable: {e.message}")
    return Conflict(f"run {run_id!r}: {e.message}")


@asynccontextmanager
async def answering_within(seconds: float, what: str) -> AsyncIterator[None]:
    """503 (`TEMPORAL_RPC_TIMEOUT`) instead of a request that waits on Temporal for good."""
    try:
        async with asyncio.timeout(seconds):
            yield
    except TimeoutError:
        raise Unavailable(
            f"Temporal did not answer {what} within {seconds:g} s (TEMPORAL_RPC_TIMEOUT)"
        ) from None


def is_open(desc: WorkflowExecutionDescription) -> bool:
    return desc.status == WorkflowExecutionStatus.RUNNING


async def closed_or_missing(client: Client, run_id: str) -> RelayflowError:
    """After a NOT_FOUND on an open-run operation: 404 when the run never existed, else 409."""
    desc = await describe(client, run_id)  # raises NotFound
    if not is_open(desc):
        return Conflict(f"run {run_id!r} is closed ({closed_state(desc.status)})")
    return Conflict(f"run {run_id!r} did not accept the request")


async def update_error(client: Client, run_id: str, e: Exception) -> RelayflowError:
    if isinstance(e, WorkflowUpdateFailedError):
        cause = e.cause
        if isinstance(cause, ApplicationError):
            cls = UPDATE_ERRORS.get(cause.type or "", Conflict)
            return cls(cause.message or str(cause), error_items(cause.details))
        return Conflict(str(cause.message if hasattr(cause, "message") else cause))
    if isinstance(e, WorkflowUpdateRPCTimeoutOrCancelledError):
        return Timeout(f"run {run_id!r} did not answer in time (is a worker running?)")
    if isinstance(e, RPCError):
        if e.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.FAILED_PRECONDITION):
            return await closed_or_missing(client, run_id)
        return rpc_error(e, run_id)
    raise e


def error_items(details: Sequence[Any]) -> list[ErrorItem] | None:
    """`[{loc, msg}]` a workflow put in `details[0]["errors"]` (e.g. `InvalidForm`), if any."""
    first = details[0] if details else None
    raw = first.get("errors") if isinstance(first, dict) else None
    if not isinstance(raw, list):
        return None
    items = []
    for e in raw:
        if isinstance(e, dict) and "msg" in e:
            loc = e.get("loc")
            where = loc_str(loc) if isinstance(loc, list | tuple) else str(loc or "$")
            items.append(ErrorItem(loc=where, msg=str(e["msg"])))
    return items or None


CLOSED_STATES = {
    WorkflowExecutionStatus.COMPLETED: "completed",
    WorkflowExecutionStatus.FAILED: "failed",
    WorkflowExecutionStatus.CANCELED: "cancelled",
    WorkflowExecutionStatus.TERMINATED: "terminated",
    WorkflowExecutionStatus.TIMED_OUT: "timed_out",
    WorkflowExecutionStatus.CONTINUED_AS_NEW: "running",
}


def closed_state(status: WorkflowExecutionStatus | None) -> str:
    return CLOSED_STATES.get(status, "running") if status is not None else "running"
