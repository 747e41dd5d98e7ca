"""The action catalogue and one-off action calls (SPEC §13, `/actions`).

`catalogue()` lists the registered actions (built-ins, entry points) with the JSON
Schema of their params and the fields that accept `secret:NAME`.

`check(...)` checks the `with:` of a test call with the save-time rules of a
template step (unknown fields, `secret:` only in secret fields, `url` xor
`connection` + `path`, the connection exists) — a test call may send nothing a
template could not; `execute(...)` then runs it once through `ActionTest`
(`workflows.engine.try_action`): the activity runs on a real worker (task queue
`TASK_QUEUE`), with the same `ActionRequest` as a run's step, no retries.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import Client
from temporalio.service import RPCError

from activities.registry import action_models, get_action
from api.connection_schemas import pinned
from api.errors import ErrorItem, Invalid, NotFound, Timeout
from api.services import connections
from api.testing.schemas import ActionInfo, ActionTestRequest, ActionTestResult
from workflows.engine.io import ActionRequest
from workflows.engine.try_action import WORKFLOW_TYPE, ActionTestInput
from workflows.language.trust import secret_fields, takes_connection
from workflows.language.validate import validate_template

#: a worker must take the call within this, and finish it within this again
CALL_LIMIT = 60.0
ID_PREFIX = "action-test-"


def catalogue() -> list[ActionInfo]:
    out = []
    for name, model in sorted(action_models().items()):
        spec = get_action(name)
        doc = (spec.fn.__doc__ or "").strip() if spec is not None else ""
        out.append(
            ActionInfo(
                name=name,
                description=doc.split("\n\n")[0].replace("\n", " ") or None,
                params=model.model_json_schema(by_alias=True),
                secret_fields=sorted(secret_fields(model)),
                takes_connection=takes_connection(model),
            )
        )
    return out


def _dynamic(value: Any) -> bool:
    if isinstance(value, str):
        return "${{" in value
    if isinstance(value, dict):
        return any(_dynamic(v) for v in value.values())
    if isinstance(value, list):
        return any(_dynamic(v) for v in value)
    return False


def _loc(loc: str) -> str:
    for prefix, short in (("steps[0].with", "with"), ("steps[0].action", "action")):
        if loc.startswith(prefix):
            return short + loc[len(prefix) :]
    return loc


async def check(
    session: AsyncSession, name: str, body: ActionTestRequest
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """(params, pinned connection) of the call; 404 unknown action, 422 what a save refuses."""
    models = action_models()
    if name not in models:
        raise NotFound(f"no action named {name!r} (GET /actions lists them)")
    params = dict(body.with_)
    if body.connection is not None:
        if params.get("connection", body.connection) != body.connection:
            raise Invalid(
                "`connection` and `with.connection` name different connections",
                [ErrorItem(loc="connection", msg="differs from with.connection")],
            )
        params["connection"] = body.connection
    if _dynamic(params):
        raise Invalid(
            "an action test takes literal values: `${{ }}` has no run to evaluate in",
            [ErrorItem(loc="with", msg="expressions are not evaluated in an action test")],
        )
    known = await connections.names(session)
    doc = {"name": "action-test", "steps": [{"id": "test", "action": name, "with": params}]}
    result = validate_template(doc, actions=models, connection_exists=known.__contains__)
    if result.findings:
        items = [ErrorItem(loc=_loc(f.loc), msg=f.msg) for f in result.findings]
        raise Invalid(f"{items[0].loc}: {items[0].msg}", items)
    conn = params.get("connection")
    row = await connections.find(session, conn) if isinstance(conn, str) else None
    return params, (pinned(row) if row is not None else None)


async def execute(
    client: Client,
    test_queue: str,
    real_queue: str,
    name: str,
    params: dict[str, Any],
    connection: dict[str, Any] | None,
) -> ActionTestResult:
    """Run the action once on a worker of `real_queue` (through `ActionTest` on `test_queue`)."""
    call_id = f"{ID_PREFIX}{name}-{uuid.uuid4()}"
    req = ActionRequest(
        run_id=call_id,
        step="test",
        idempotency_key=f"{call_id}/test",
        params=params,
        connection=connection,
    )
    handle = await client.start_workflow(
        WORKFLOW_TYPE,
        ActionTestInput(action=name, request=req, task_queue=real_queue, timeout_seconds=CALL_LIMIT),
        id=call_id,
        task_queue=test_queue,
        execution_timeout=timedelta(seconds=CALL_LIMIT * 2 + 10),
        static_summary=f"test of action {name}",
    )
    try:
        async with asyncio.timeout(CALL_LIMIT * 2 + 20):
            result = await handle.result()
    except TimeoutError:
        try:
            await handle.terminate("action test did not finish in time")
        except RPCError:
            pass
        raise Timeout(f"the action test {call_id} did not finish in time") from None
    return ActionTestResult.model_validate(result)
