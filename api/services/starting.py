"""Preparing and starting runs: pin the template version and its subflows, check the input."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import Client
from temporalio.common import (
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from activities.registry import action_models
from api.errors import Conflict, ErrorItem, Invalid, loc_str
from api.schemas import TAGS_MAX_BYTES, tags_size
from api.services import registry, run_checks, subscriptions
from settings import Settings
from workflows.engine import search_attributes as sa
from workflows.engine.io import WORKFLOW_TYPE, RunInput
from workflows.kinds.action import connections as connection_names
from workflows.kinds.subflow import subflows as subflow_targets
from workflows.language.compiler import CompiledTemplate, compile_template
from workflows.language.json_schemas import SchemaUnusable
from workflows.language.json_schemas import errors as schema_errors
from workflows.language.model import Template


def ui_url(settings: Settings, namespace: str, run_id: str) -> str:
    base = settings.temporal_ui_url.rstrip("/")
    return f"{base}/namespaces/{quote(namespace, safe='')}/workflows/{quote(run_id, safe='')}"


def check_input(schema: dict[str, Any] | None, data: Any, where: str = "input") -> None:
    """Validate run input against the template's `input_schema` (JSON Schema) -> `Invalid`."""
    if not schema:
        return
    try:
        errors = schema_errors(schema, data, formats=True)
    except SchemaUnusable as bad:  # saved before save-time checks caught it
        raise Invalid(
            f"the template's input_schema cannot check the {where}: {bad}; "
            "save a corrected version of the template",
            [ErrorItem(loc="input_schema", msg=str(bad))],
        ) from None
    if not errors:
        return
    items = []
    for e in errors:
        path: list[Any] = [where, *e.absolute_path]
        if e.validator == "required" and isinstance(e.instance, dict):
            missing = [p for p in e.validator_value if p not in e.instance and repr(p) in e.message]
            path += missing[:1]
        items.append(ErrorItem(loc=loc_str(path), msg=e.message))
    more = f" (and {len(items) - 1} more)" if len(items) > 1 else ""
    raise Invalid(
        f"{where} does not match the template's input_schema: {items[0].loc}: {items[0].msg}{more}",
        items,
    )


async def pin_subflows(
    session: AsyncSession, template: Template, limit: int = 200
) -> tuple[dict[str, CompiledTemplate], dict[str, int]]:
    """Every template reachable through `subflow` steps, compiled and pinned now."""
    subflows: dict[str, CompiledTemplate] = {}
    pins: dict[str, int] = {}
    seen: set[tuple[str, int | None]] = set()
    todo = [(s.template, s.version) for s in subflow_targets(template)]
    while todo and len(seen) < limit:
        name, version = todo.pop()
        if (name, version) in seen:
            continue
        seen.add((name, version))
        row = await registry.find(session, name, version)
        if row is None:
            continue  # saved before its target was deleted: the step fails when it runs
        if version is None:
            pins[name] = row.version
        key = f"{row.name}@{row.version}"
        if key not in subflows:
            child = registry.parsed(session, row)
            subflows[key] = compile_template(child, row.version)
            todo.extend((s.template, s.version) for s in subflow_targets(child))
    return subflows, pins


#: RPC statuses that blame the request, not Temporal: 422 instead of 503
CLIENT_STATUSES = (RPCStatusCode.INVALID_ARGUMENT, RPCStatusCode.OUT_OF_RANGE)


def check_tags(tags: dict[str, str]) -> None:
    """Tags must fit `RunTags` (size) and the visibility query syntax (no quotes...)."""
    size = tags_size(tags)
    if size > TAGS_MAX_BYTES:
        raise Invalid(
            f"tags are too long together: {size} bytes, at most {TAGS_MAX_BYTES}",
            [ErrorItem(loc="tags", msg="too long")],
        )
    for key, value in tags.items():
        if not key or ":" in key or any(c in key + value for c in "'\"\\\n\r\t"):
            raise Invalid(
                f"tag {key!r}: keys must be non-empty without ':' and tags may not contain quotes, "
                "backslashes or control characters",
                [ErrorItem(loc=f"tags.{key}", msg="invalid tag")],
            )


async def prepare(
    session: AsyncSession,
    settings: Settings,
    template: str,
    version: int | None,
    data: dict[str, Any],
    started_by: str | None,
    tags: dict[str, str] | None = None,
) -> RunInput:
    """The workflow input of a new run: 404 unknown template, 422 input not matching
    (its shape, `input_schema`, or what the workers could decode; `api.services.run_checks`)."""
    run_checks.check_shape(data, settings)
    row = await registry.get(session, template, version)
    parsed = registry.parsed(session, row)
    await run_checks.check_schema(lambda: check_input(parsed.input_schema, data), settings)
    subflows, pins = await pin_subflows(session, parsed)
    run_tags = dict(tags or {})
    run = RunInput(
        plan=compile_template(parsed, row.version),
        input=data,
        subflows=subflows,
        subflow_versions=pins,
        started_by=started_by,
        tags=run_tags,
        connections=await pin_connections(
            session, [parsed, *(s.template for s in subflows.values())]
        ),
        subscriptions=await subscriptions.pin(
            session, [parsed.name, *(s.name for s in subflows.values())], run_tags
        ),
    )
    await run_checks.check_payload(run, settings)
    return run


async def pin_connections(
    session: AsyncSession, templates: list[Template]
) -> dict[str, dict[str, Any]]:
    """The non-secret part of every connection the templates use, as stored now (SPEC §8)."""
    from api.services import connections

    actions = action_models()
    refs: dict[str, str] = {}
    for t in templates:
        for name, loc in connection_names(t, actions).items():
            refs.setdefault(name, loc if t is templates[0] else f"{t.name}: {loc}")
    return await connections.pin(session, refs)


def search_attributes(run: RunInput) -> TypedSearchAttributes:
    check_tags(run.tags)
    return sa.start_attributes(run.plan.name, run.plan.version, run.started_by, run.tags)


def new_run_id(template: str) -> str:
    return f"{template}-{uuid.uuid4()}"


@dataclass
class Started:
    run_id: str
    template: str
    version: int
    created: bool


async def start(
    client: Client, settings: Settings, run: RunInput, run_id: str, *, same_version: bool = True
) -> Started:
    """Start `TemplateWorkflow`; an existing run id is 409, or that run when it is the same request."""
    try:
        await client.start_workflow(
            WORKFLOW_TYPE,
            run,
            id=run_id,
            task_queue=settings.task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            search_attributes=search_attributes(run),
            static_summary=f"{run.plan.name}@{run.plan.version}",
        )
    except WorkflowAlreadyStartedError:
        existing = await existing_input(client, run_id)
        if existing is not None and _same(existing, run, same_version):
            return Started(run_id, existing.plan.name, existing.plan.version, created=False)
        raise Conflict(f"run id {run_id!r} is already taken by another run") from None
    except RPCError as e:
        if e.status in CLIENT_STATUSES:  # the request itself (e.g. a search attribute too big)
            raise Invalid(
                f"Temporal rejected the run: {e.message}", [ErrorItem(loc="body", msg=e.message)]
            ) from None
        raise
    return Started(run_id, run.plan.name, run.plan.version, created=True)


def _same(existing: RunInput, new: RunInput, same_version: bool) -> bool:
    """Same starter, same template (and version, when the caller named one), same input.

    Another caller repeating someone else's run id gets 409, never that run (SPEC §8)."""
    return (
        existing.started_by == new.started_by
        and existing.plan.name == new.plan.name
        and (not same_version or existing.plan.version == new.plan.version)
        and existing.input == new.input
    )


async def existing_input(client: Client, run_id: str) -> RunInput | None:
    """The input the run with this id was started with (its first history event)."""
    handle = client.get_workflow_handle(run_id)
    try:
        async for event in handle.fetch_history_events():
            attrs = event.workflow_execution_started_event_attributes
            payloads = list(attrs.input.payloads)
            if not payloads:
                return None
            [value] = await client.data_converter.decode(payloads, [RunInput])
            return value if isinstance(value, RunInput) else None
    except Exception:  # unreadable history: treat as a different run (409)
        return None
    return None
