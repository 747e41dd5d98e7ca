"""Run lists and the inbox from Temporal visibility (search attributes of SPEC §3)."""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from temporalio.client import (
    Client,
    WorkflowExecution,
    WorkflowExecutionStatus,
    WorkflowQueryFailedError,
    WorkflowQueryRejectedError,
)
from temporalio.service import RPCError, RPCStatusCode

from activities.directory import User
from api.auth import assignee_keys
from api.errors import ErrorItem, Invalid, Unavailable
from api.schemas import RunSummary
from api.services.temporal_errors import answering_within, closed_state
from workflows.engine import search_attributes as sa
from workflows.engine.io import WORKFLOW_TYPE, PendingTask, RunPending

log = logging.getLogger("relayflow.api")

#: default for `limit` (the API passes TEMPORAL_RPC_TIMEOUT)
RPC_LIMIT = 10.0

OPEN_STATES = ("running", "paused", "held", "waiting")
CLOSED_STATUSES = {
    "completed": "Completed",
    "failed": "Failed",
    "cancelled": "Canceled",
    "timed_out": "TimedOut",
    "terminated": "Terminated",
}
STATES = OPEN_STATES + tuple(CLOSED_STATUSES)
_SAFE = re.compile(r"\A[^'\"\\`\x00-\x1f\x7f]{1,200}\Z")
#: runs are the executions that carry `TemplateName`: template tests (SPEC §13) set none
RUNS = f"WorkflowType = '{WORKFLOW_TYPE}' AND {sa.TEMPLATE_NAME.name} IS NOT NULL"
BASE = f"{RUNS} AND ExecutionStatus != 'ContinuedAsNew'"


def literal(value: str, field: str) -> str:
    """A visibility-query string literal; values that would need escaping are refused."""
    if not _SAFE.match(value):
        raise Invalid(
            f"{field}: 1-200 characters without quotes, backslashes or control characters",
            [ErrorItem(loc=f"query.{field}", msg="invalid filter value")],
        )
    return f"'{value}'"


@dataclass
class RunFilter:
    template: str | None = None
    state: str | None = None
    assignee: str | None = None
    tag: str | None = None
    started_by: str | None = None
    #: the caller's read scope (api.services.access.list_scope); None = every run
    scope: str | None = None

    def query(self) -> str:
        parts = [BASE]
        if self.scope is not None:
            parts.append(self.scope)
        if self.template is not None:
            parts.append(f"{sa.TEMPLATE_NAME.name} = {literal(self.template, 'template')}")
        if self.state is not None:
            if self.state in OPEN_STATES:
                parts.append(
                    f"ExecutionStatus = 'Running' AND {sa.RUN_STATE.name} = '{self.state}'"
                )
            elif self.state in CLOSED_STATUSES:
                parts.append(f"ExecutionStatus = '{CLOSED_STATUSES[self.state]}'")
            else:
                raise Invalid(
                    f"state must be one of {', '.join(STATES)}",
                    [ErrorItem(loc="query.state", msg="unknown state")],
                )
        if self.assignee is not None:
            key = (
                self.assignee
                if self.assignee.startswith(("user:", "role:"))
                else f"user:{self.assignee}"
            )
            parts.append(f"{sa.ASSIGNEES.name} = {literal(key, 'assignee')}")
        if self.tag is not None:
            if ":" not in self.tag:
                raise Invalid(
                    "tag must be key:value", [ErrorItem(loc="query.tag", msg="expected key:value")]
                )
            parts.append(f"{sa.RUN_TAGS.name} = {literal(self.tag, 'tag')}")
        if self.started_by is not None:
            parts.append(f"{sa.STARTED_BY.name} = {literal(self.started_by, 'started_by')}")
        return " AND ".join(parts)


def _check(raw: bytes) -> bytes:
    return hashlib.sha256(b"relayflow-page:" + raw).digest()[:8]


def encode_token(token: bytes | None) -> str | None:
    """Temporal's page token for clients: base64url of the token and a checksum, so a
    mangled token is refused here (422) instead of making Temporal retry on garbage."""
    return base64.urlsafe_b64encode(token + _check(token)).decode().rstrip("=") if token else None


def decode_token(token: str | None) -> bytes | None:
    if not token:
        return None
    try:
        data = base64.b64decode(
            token.encode() + b"=" * (-len(token) % 4), altchars=b"-_", validate=True
        )
    except (binascii.Error, ValueError):
        data = b""
    raw, check = data[:-8], data[-8:]
    if not raw or not hmac.compare_digest(check, _check(raw)):
        raise Invalid(
            "next_page_token is not a token returned by this API",
            [ErrorItem(loc="query.next_page_token", msg="invalid page token")],
        )
    return raw


def summarize(wf: WorkflowExecution) -> RunSummary:
    attrs = wf.typed_search_attributes
    if wf.status == WorkflowExecutionStatus.RUNNING:
        state = attrs.get(sa.RUN_STATE) or "running"
    else:
        state = closed_state(wf.status)
    return RunSummary(
        run_id=wf.id,
        template=attrs.get(sa.TEMPLATE_NAME),
        version=attrs.get(sa.TEMPLATE_VERSION),
        state=state,
        started_by=attrs.get(sa.STARTED_BY),
        tags=list(attrs.get(sa.RUN_TAGS) or []),
        started_at=wf.start_time,
        closed_at=wf.close_time,
    )


async def list_runs(
    client: Client,
    filters: RunFilter,
    page_size: int,
    token: str | None,
    limit: float = RPC_LIMIT,
) -> tuple[list[RunSummary], str | None]:
    """One page, in visibility order (open runs first, each group newest first)."""
    it = client.list_workflows(
        filters.query(), page_size=page_size, next_page_token=decode_token(token)
    )
    try:
        async with answering_within(limit, "the run listing"):
            await it.fetch_next_page()
    except RPCError as e:
        if e.status == RPCStatusCode.INVALID_ARGUMENT:
            raise Invalid(f"Temporal rejected the listing: {e.message}") from None
        raise Unavailable(f"Temporal visibility is unavailable: {e.message}") from None
    async with answering_within(limit, "the run listing"):
        page = await latest_only(client, list(it.current_page or []))
    return [summarize(wf) for wf in page], encode_token(it.next_page_token)


#: executions a redrive may have followed (SPEC §9: a run id is listed once)
_REDRIVABLE = frozenset(
    {
        WorkflowExecutionStatus.FAILED,
        WorkflowExecutionStatus.CANCELED,
        WorkflowExecutionStatus.TERMINATED,
        WorkflowExecutionStatus.TIMED_OUT,
    }
)


async def latest_only(client: Client, page: list[WorkflowExecution]) -> list[WorkflowExecution]:
    """Drop executions a redrive superseded: one visibility query for the page's failed,
    cancelled, terminated and timed-out runs (none: no query), keeping each run id's
    newest execution (visibility also lists the earlier ones)."""
    ids = []
    for wf in page:
        if wf.status in _REDRIVABLE:
            try:
                ids.append(literal(wf.id, "run_id"))
            except Invalid:
                continue
    if not ids:
        return page
    query = f"{BASE} AND WorkflowId IN ({', '.join(sorted(set(ids)))})"
    newest: dict[str, datetime] = {}
    async for wf in client.list_workflows(query, limit=1000, page_size=1000):
        if wf.start_time is not None and (wf.id not in newest or wf.start_time > newest[wf.id]):
            newest[wf.id] = wf.start_time
    return [
        wf
        for wf in page
        if wf.id not in newest or wf.start_time is None or wf.start_time >= newest[wf.id]
    ]


@dataclass
class InboxItem:
    run_id: str
    template: str
    version: int
    pending: list[PendingTask]


def addressed_to(user: User, keys: list[str], task: PendingTask) -> bool:
    """`task` is for `user`: named (also as a delegate), or through a role unless the
    user delegated their seat away (out of office)."""
    if f"user:{user.id}" in task.assignees:
        return True
    return user.id not in task.delegations and bool(set(keys).intersection(task.assignees))


async def inbox(
    client: Client, user: User, limit: int = 200, seconds: float = RPC_LIMIT
) -> list[InboxItem]:
    """Open approvals assigned to `user` directly or through one of its roles.

    Each run's `status` query is answered by a worker: when no run's query is answered
    within `seconds` (no worker, or Temporal down), the inbox is unavailable (503), not
    silently empty. Runs that do not answer while others do are left out (and logged)."""
    keys = assignee_keys(user)
    values = ", ".join(literal(k, "assignee") for k in keys)
    query = f"{BASE} AND ExecutionStatus = 'Running' AND {sa.ASSIGNEES.name} IN ({values})"
    try:
        async with answering_within(seconds, "the inbox listing"):
            found = [wf async for wf in client.list_workflows(query, limit=limit, page_size=limit)]
    except RPCError as e:
        raise Unavailable(f"Temporal visibility is unavailable: {e.message}") from None
    sem = asyncio.Semaphore(20)
    unanswered: list[Unavailable] = []

    async def one(wf: WorkflowExecution) -> InboxItem | None:
        async with sem:
            try:
                doc = await _pending(client, wf.id, seconds)
            except Unavailable as e:
                unanswered.append(e)
                return None
        if doc is None:
            return None
        mine = [p for p in doc.pending if addressed_to(user, keys, p)]
        return InboxItem(wf.id, doc.template, doc.version, mine) if mine else None

    batches = max(1, -(-len(found) // 20))
    async with answering_within(
        seconds * (batches + 1), "the inbox's pending queries (is a worker running?)"
    ):
        items = await asyncio.gather(*(one(wf) for wf in found))
    if unanswered and len(unanswered) == len(found):
        raise unanswered[0]
    if unanswered:
        log.warning(
            "inbox of %s: %d run(s) did not answer: %s", user.id, len(unanswered), unanswered[0]
        )
    return [i for i in items if i is not None]


async def _pending(client: Client, run_id: str, seconds: float) -> RunPending | None:
    """The run's open tasks (the small `pending` query, not the whole status document);
    None when it closed meanwhile; 503 when no worker answers."""
    handle = client.get_workflow_handle(run_id)
    try:
        doc: RunPending = await handle.query(
            "pending", result_type=RunPending, rpc_timeout=timedelta(seconds=seconds)
        )
        return doc
    except (WorkflowQueryRejectedError, WorkflowQueryFailedError):
        return None  # closed meanwhile, or a run that cannot answer: not in the inbox
    except RPCError as e:
        if e.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.FAILED_PRECONDITION):
            return None
        raise Unavailable(
            f"no worker answered the status query of run {run_id!r} within {seconds:g} s "
            "(is a worker running?); the inbox is unavailable"
        ) from None
