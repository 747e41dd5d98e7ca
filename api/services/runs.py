"""Reading and steering runs: the status document, pause/resume/cancel, decisions."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio.client import (
    Client,
    WorkflowExecutionDescription,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowQueryFailedError,
    WorkflowQueryRejectedError,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

from activities.directory import User
from api.auth import OPERATOR_ROLES
from api.errors import Conflict, Forbidden, Invalid
from api.services import updates
from api.services.actors import cancel_reason
from api.services.temporal_errors import (
    closed_or_missing,
    closed_state,
    describe,
    is_open,
    update_error,
)
from workflows.engine import search_attributes as sa
from workflows.engine.io import ControlInput, DecideInput, ReassignInput, RunStatus, StepStatus

QUERY_TIMEOUT = timedelta(seconds=10)
#: default time limit of updates (the API passes DECISION_TIMEOUT)
UPDATE_LIMIT = 30.0


def _failure_message(e: BaseException) -> str:
    cause = getattr(e, "cause", None)
    while (
        cause is not None
        and getattr(cause, "cause", None) is not None
        and not getattr(cause, "message", None)
    ):
        cause = cause.cause
    return str(getattr(cause, "message", None) or cause or e)


async def _fallback(client: Client, run_id: str, desc: WorkflowExecutionDescription) -> RunStatus:
    """A status document from describe() (+ the result) when the query is not answered."""
    attrs = desc.typed_search_attributes
    doc = RunStatus(
        run_id=run_id,
        template=attrs.get(sa.TEMPLATE_NAME) or "",
        version=attrs.get(sa.TEMPLATE_VERSION) or 0,
        state=attrs.get(sa.RUN_STATE) or "running",
        started_at=desc.start_time,
    )
    if not is_open(desc):
        handle = client.get_workflow_handle(run_id)
        try:
            doc.output = await handle.result(rpc_timeout=QUERY_TIMEOUT)
        except WorkflowFailureError as e:
            doc.error = _failure_message(e)
            cause = e.cause
            if isinstance(cause, ApplicationError) and cause.type == "StepFailed" and cause.details:
                doc.failed_step = str(cause.details[0])  # SPEC §9: the step that failed it
        except Exception:  # the result is best effort in the fallback document
            pass
    return doc


async def status(
    client: Client, run_id: str, desc: WorkflowExecutionDescription | None = None
) -> tuple[RunStatus, WorkflowExecutionDescription]:
    """The `status` query merged with describe() (`desc` when the caller has it already):
    closed state, closed_at, output/error."""
    if desc is None:
        desc = await describe(client, run_id)
    handle = client.get_workflow_handle(run_id)
    try:
        doc = await handle.query("status", result_type=RunStatus, rpc_timeout=QUERY_TIMEOUT)
    except (WorkflowQueryFailedError, WorkflowQueryRejectedError, RPCError):
        doc = await _fallback(client, run_id, desc)
    doc.run_id = run_id
    if not is_open(desc):
        doc.state = closed_state(desc.status)
        doc.closed_at = desc.close_time
        if doc.state == "failed" and not doc.error:
            doc.error = (await _fallback(client, run_id, desc)).error
    return doc, desc


def can_steer(user: User, desc: WorkflowExecutionDescription) -> bool:
    starter = desc.typed_search_attributes.get(sa.STARTED_BY)
    return bool(OPERATOR_ROLES.intersection(user.roles)) or (
        starter is not None and starter == user.id
    )


async def control(
    client: Client,
    run_id: str,
    action: str,
    user: User,
    desc: WorkflowExecutionDescription | None = None,
) -> None:
    """pause / resume (signals) or cancel (Temporal cancellation) by starter/operator/admin."""
    if desc is None:
        desc = await describe(client, run_id)
    if not can_steer(user, desc):
        raise Forbidden(
            f"only the run's starter, an operator or an admin may {action} run {run_id!r}"
        )
    if not is_open(desc):
        if action == "cancel" and desc.status == WorkflowExecutionStatus.CANCELED:
            return  # a second cancel is a no-op
        raise Conflict(
            f"run {run_id!r} is closed ({closed_state(desc.status)}); cannot {action} it"
        )
    handle = client.get_workflow_handle(run_id)
    try:
        if action == "cancel":
            await handle.cancel(reason=cancel_reason(user.id))
        else:
            await handle.signal(action, ControlInput(actor=user.id))
    except RPCError as e:
        raise await closed_or_missing(client, run_id) from e


async def _update(
    client: Client, run_id: str, name: str, arg: Any, limit: float = UPDATE_LIMIT
) -> StepStatus:
    """The update with a time limit: 504 when the run did not take it (then it never will)."""
    try:
        return await updates.execute(client, run_id, name, arg, StepStatus, limit)
    except (WorkflowUpdateFailedError, WorkflowUpdateRPCTimeoutOrCancelledError, RPCError) as e:
        raise await update_error(client, run_id, e) from None


async def decide(
    client: Client,
    run_id: str,
    step: str,
    user: User,
    outcome: str,
    comment: str | None,
    data: dict[str, Any] | None,
    limit: float = UPDATE_LIMIT,
) -> StepStatus:
    """The `decide` update as `user`; an admin who is not an assignee decides `as_admin`."""
    decision = DecideInput(step=step, outcome=outcome, actor=user.id, comment=comment, data=data)
    try:
        return await _update(client, run_id, "decide", decision, limit)
    except Forbidden:
        if not user.is_admin:
            raise
    decision.as_admin = True
    return await _update(client, run_id, "decide", decision, limit)


async def decide_as(client: Client, run_id: str, decision: DecideInput) -> StepStatus:
    """The `decide` update exactly as given (no admin fallback): decision links."""
    return await _update(client, run_id, "decide", decision)


async def reassign(
    client: Client,
    run_id: str,
    step: str,
    user: User,
    users: list[str],
    roles: list[str],
    limit: float = UPDATE_LIMIT,
) -> StepStatus:
    """The `reassign` update. Operators and admins may name any users/roles; anyone else
    may only hand over their own seat to one user (the workflow's validator enforces
    SPEC §11, so a refused handover writes nothing to history)."""
    if not users and not roles:
        raise Invalid("reassign needs at least one user or role")
    as_operator = bool(OPERATOR_ROLES.intersection(user.roles))
    return await _update(
        client,
        run_id,
        "reassign",
        ReassignInput(step=step, actor=user.id, users=users, roles=roles, as_operator=as_operator),
        limit,
    )
