"""Resolving a held step (SPEC §9): `POST /runs/{run_id}/steps/{step}/resolve`.

Operators and admins only. The `resolve` update's validator (in the workflow) refuses a
step that is not held (409) and arguments that cannot apply (422); here, before that,
the patched `with:` keys of a `retry` are held to the same trust rules as a saved
template (SPEC §8): only fields the action has, `secret:NAME` only in its declared
secret fields, no other connection, and `url`/`connection`/`path` still fitting.
"""

from __future__ import annotations

from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import (
    Client,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.service import RPCError

from activities.directory import User
from activities.registry import action_models
from api.auth import OPERATOR_ROLES
from api.errors import ErrorItem, Forbidden, Invalid
from api.services import registry, updates
from api.services.access import RunView
from api.services.temporal_errors import update_error
from workflows.engine import search_attributes as sa
from workflows.engine.io import ResolveInput, StepStatus
from workflows.engine.redrive import path_of, steps_by_path
from workflows.kinds.action import ActionStep
from workflows.language.trust import scan, secret_fields, secret_value_problem, target_problems


async def check_overrides(
    session: AsyncSession, run: RunView, step: str, with_: dict[str, Any]
) -> None:
    """422 for patched arguments a saved template could not hold."""
    problems: list[ErrorItem] = []
    if "connection" in with_:
        problems.append(ErrorItem(loc="with.connection", msg="a resolution cannot change the connection"))
    attrs = run.desc.typed_search_attributes
    name, version = attrs.get(sa.TEMPLATE_NAME), attrs.get(sa.TEMPLATE_VERSION)
    row = await registry.find(session, name, version) if name and version else None
    target = steps_by_path(registry.parsed(session, row)).get(path_of(step)) if row else None
    if isinstance(target, ActionStep):
        model = action_models().get(target.action)
        if model is not None:
            known = {info.alias or n for n, info in model.model_fields.items()}
            for key in sorted(set(with_) - known):
                problems.append(ErrorItem(loc=f"with.{key}", msg=f"not a field of action {target.action!r}"))
            secret = secret_fields(model)
            for key in sorted(secret & set(with_)):
                if (problem := secret_value_problem(with_[key])) is not None:
                    problems.append(ErrorItem(loc=f"with.{key}", msg=problem))
            scan(
                {k: v for k, v in with_.items() if k not in secret},
                "with",
                frozenset(),
                lambda loc, msg: problems.append(ErrorItem(loc=loc, msg=msg)),
            )
            if {"url", "connection"} <= known:
                merged = {**target.with_, **with_}
                problems += [ErrorItem(loc="with", msg=p) for p in target_problems(merged)]
    elif target is not None:
        problems.append(ErrorItem(loc="with", msg=f"a {target.kind} step takes no `with` arguments"))
    if problems:
        first = problems[0]
        raise Invalid(f"cannot retry with these arguments: {first.loc}: {first.msg}", problems)


async def resolve(
    client: Client,
    session: AsyncSession,
    run: RunView,
    step: str,
    user: User,
    body: ResolveInput,
    limit: float,
) -> StepStatus:
    """The `resolve` update as `user` (operator/admin) → the step's new state."""
    if not OPERATOR_ROLES.intersection(user.roles):
        raise Forbidden("only an operator or an admin may resolve a held step")
    if body.with_ is not None and body.action == "retry":
        await check_overrides(session, run, step, body.with_)
    arg = body.model_copy(update={"step": step, "actor": user.id})
    try:
        return await updates.execute(client, run.run_id, "resolve", arg, StepStatus, limit)
    except (WorkflowUpdateFailedError, WorkflowUpdateRPCTimeoutOrCancelledError, RPCError) as e:
        raise await update_error(client, run.run_id, e) from None
