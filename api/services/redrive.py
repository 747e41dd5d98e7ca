"""Redrive a run that ended badly (SPEC §9): a new execution under the same run id.

The previous execution's final status document (its `status` query; without a worker,
the same document from replaying its history here, `api.analytics.replay`) says which
steps succeeded; `workflows.engine.redrive.plan` turns it into what the new execution
carries (`RunInput.redrive`), the failed subflow children included (each redriven the
same way under its own id). The new execution has the previous one's input, starter,
tags and pinned template version (or a later version of the same template, when every
carried step still exists there with the same kind), connections pinned again as at
start, and Temporal's id-reuse policy ALLOW_DUPLICATE_FAILED_ONLY: it starts only when
the latest execution failed, was cancelled, timed out or was terminated (`POST /runs`
keeps rejecting any reuse).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import (
    Client,
    WorkflowExecutionDescription,
    WorkflowExecutionStatus,
    WorkflowQueryFailedError,
    WorkflowQueryRejectedError,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from activities.directory import User
from api.errors import Conflict, ErrorItem, Forbidden, Invalid, Unavailable
from api.services import registry, run_checks, starting
from api.services.runs import can_steer
from api.services.temporal_errors import closed_state, describe, is_open
from settings import Settings
from workflows.engine import redrive as carry
from workflows.engine.io import WORKFLOW_TYPE, RedriveInput, RunInput, RunStatus
from workflows.kinds.subflow import child_id
from workflows.language.compiler import compile_template

log = logging.getLogger("relayflow.api")

QUERY_TIMEOUT = timedelta(seconds=10)
REDRIVABLE = frozenset(
    {
        WorkflowExecutionStatus.FAILED,
        WorkflowExecutionStatus.CANCELED,
        WorkflowExecutionStatus.TERMINATED,
        WorkflowExecutionStatus.TIMED_OUT,
    }
)


@dataclass
class Redriven:
    run_id: str
    redrive: int
    version: int


def summary(name: str, version: int, count: int) -> str:
    """The Web UI's summary of a redriven execution."""
    return f"{name}@{version} · redrive {count}"


def check_redrivable(run_id: str, desc: WorkflowExecutionDescription) -> None:
    if is_open(desc):
        raise Conflict(
            f"run {run_id!r} is still open; only a run that failed, was cancelled, "
            "timed out or was terminated can be redriven"
        )
    if desc.status not in REDRIVABLE:
        raise Conflict(f"run {run_id!r} completed; there is nothing to redrive")


async def final_status(
    client: Client,
    run_id: str,
    desc: WorkflowExecutionDescription,
    timeout: timedelta = QUERY_TIMEOUT,
) -> RunStatus:
    """The closed execution's status document: its `status` query, or (no worker answers
    within `timeout`) the same document from replaying its history in this process."""
    handle = client.get_workflow_handle(run_id, run_id=desc.run_id)
    try:
        doc: RunStatus = await handle.query("status", result_type=RunStatus, rpc_timeout=timeout)
        return doc
    except (WorkflowQueryFailedError, WorkflowQueryRejectedError, RPCError) as e:
        log.info("redrive of %s: status query not answered (%s); replaying here", run_id, e)
    from api.analytics.replay import Snapshot, snapshots

    history = await handle.fetch_history()
    snap = (await snapshots([history], client.data_converter)).get(run_id)
    if not isinstance(snap, Snapshot):
        raise Unavailable(f"the final state of run {run_id!r} cannot be read: {snap}")
    return snap.status


async def _previous(client: Client, run_id: str) -> RunInput:
    previous = await starting.existing_input(client, run_id)
    if previous is None:
        raise Conflict(f"the input of run {run_id!r} cannot be read; it cannot be redriven")
    return previous


async def plan_execution(
    client: Client, run_id: str, desc: WorkflowExecutionDescription, actor: str
) -> tuple[RunInput, RedriveInput]:
    """The previous input and what a redrive of the run's latest execution carries
    (children included)."""
    previous = await _previous(client, run_id)
    doc = await final_status(client, run_id, desc)
    redrive, children = carry.plan(previous.plan.template, doc.steps)
    kids: dict[str, RedriveInput] = {}
    for address in children:
        kid = await _child(client, child_id(run_id, address), actor)
        if kid is not None:
            kids[address] = kid
    count = (previous.redrive.count if previous.redrive is not None else 0) + 1
    redrive = redrive.model_copy(
        update={"count": count, "actor": actor, "previous": desc.run_id, "children": kids}
    )
    return previous, redrive


async def _child(client: Client, cid: str, actor: str) -> RedriveInput | None:
    """The redrive of a failed subflow child (None: it never started, or completed)."""
    try:
        desc = await client.get_workflow_handle(cid).describe()
    except RPCError as e:
        if e.status == RPCStatusCode.NOT_FOUND:
            return None
        raise
    if is_open(desc):
        raise Conflict(
            f"child run {cid!r} is still {closed_state(desc.status)}; redrive once it closed"
        )
    if desc.status not in REDRIVABLE:
        return None
    _, redrive = await plan_execution(client, cid, desc, actor)
    return redrive


async def redrive(
    client: Client,
    session: AsyncSession,
    settings: Settings,
    run_id: str,
    user: User,
    version: int | None = None,
    desc: WorkflowExecutionDescription | None = None,
) -> Redriven:
    """Start the next execution of `run_id` (starter, operator, admin)."""
    if desc is None:
        desc = await describe(client, run_id)
    if not can_steer(user, desc):
        raise Forbidden(f"only the run's starter, an operator or an admin may redrive run {run_id!r}")
    check_redrivable(run_id, desc)
    previous, redrive = await plan_execution(client, run_id, desc, user.id)
    plan, subflows, pins = previous.plan, previous.subflows, previous.subflow_versions
    if version is not None and version != plan.version:
        if version < plan.version:
            raise Invalid(
                f"version {version} is older than the version the run pinned ({plan.version}); "
                "a redrive keeps it or moves to a later one",
                [ErrorItem(loc="version", msg="older than the pinned version")],
            )
        row = await registry.get(session, plan.name, version)
        template = registry.parsed(session, row)
        missing = carry.incompatible(redrive.steps, plan.template, template)
        if missing:
            raise Conflict(
                f"version {version} of {plan.name!r} lacks steps the redrive would carry, or "
                f"runs them as another kind: {', '.join(missing)}",
                [ErrorItem(loc=f"steps.{p}", msg="carried step missing or changed kind") for p in missing],
            )
        plan = compile_template(template, version)
        subflows, pins = await starting.pin_subflows(session, template)
    inp = RunInput(
        plan=plan,
        input=previous.input,
        subflows=subflows,
        subflow_versions=pins,
        started_by=previous.started_by,
        tags=previous.tags,
        connections=await starting.pin_connections(
            session, [plan.template, *(s.template for s in subflows.values())]
        ),
        redrive=redrive,
        subscriptions=previous.subscriptions,
    )
    await run_checks.check_payload(inp, settings)
    memo = {
        "redrive": {
            "count": redrive.count,
            "actor": user.id,
            "previous": redrive.previous,
            "version": plan.version,
        }
    }
    try:
        await client.start_workflow(
            WORKFLOW_TYPE,
            inp,
            id=run_id,
            task_queue=settings.task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            search_attributes=starting.search_attributes(inp),
            static_summary=summary(plan.name, plan.version, redrive.count),
            memo=memo,
        )
    except WorkflowAlreadyStartedError:
        raise Conflict(f"run {run_id!r} was redriven or is open again; read it first") from None
    return Redriven(run_id=run_id, redrive=redrive.count, version=plan.version)
