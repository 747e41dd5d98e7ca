"""`subflow:` — another template as a child `TemplateWorkflow`.

The child's plan comes from `RunInput.subflows` (pinned at start): `name@version`
with `version` from the step, else `RunInput.subflow_versions[name]`. Child id:
`<run id>.<step address>` with characters outside `[A-Za-z0-9._-]` replaced by `-`.
Parent-close policy REQUEST_CANCEL (the child's cleanup steps run); cancelling the
step cancels the child and waits for it to finish. The child starts with search
attributes TemplateName, TemplateVersion, RunState=running (plus StartedBy/RunTags
inherited from the parent). Output: the child's outputs; a failed child fails the
step with the child's error.
"""

from __future__ import annotations

import re
from typing import Any

from temporalio import workflow
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.workflow import ParentClosePolicy

from workflows import search_attributes as sa
from workflows.expressions import render
from workflows.io import WORKFLOW_TYPE, RunInput
from workflows.steps.base import StepContext, StepFailure

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def child_id(run_id: str, address: str) -> str:
    return _UNSAFE.sub("-", f"{run_id}.{address}")


async def run(ctx: StepContext) -> Any:
    rt, spec = ctx.rt, ctx.step.subflow
    assert spec is not None
    version = spec.version or rt.inp.subflow_versions.get(spec.template)
    plan = rt.inp.subflows.get(f"{spec.template}@{version}") if version else None
    if plan is None:
        raise StepFailure(
            f"subflow template {spec.template}@{version or '?'} was not pinned when the run started"
        )
    child_input = render(spec.input, ctx.scope())
    pairs: list[SearchAttributePair[Any]] = [
        SearchAttributePair(sa.TEMPLATE_NAME, plan.name),
        SearchAttributePair(sa.TEMPLATE_VERSION, plan.version),
        SearchAttributePair(sa.RUN_STATE, "running"),
    ]
    if rt.inp.started_by:
        pairs.append(SearchAttributePair(sa.STARTED_BY, rt.inp.started_by))
    if rt.inp.tags:
        pairs.append(
            SearchAttributePair(sa.RUN_TAGS, [f"{k}:{v}" for k, v in sorted(rt.inp.tags.items())])
        )
    cid = child_id(rt.run_id, ctx.address)
    ctx.set_detail(f"child {cid}")
    with rt.in_flight():
        result: Any = await workflow.execute_child_workflow(
            WORKFLOW_TYPE,  # type: ignore[arg-type]  # by name: the same workflow type
            RunInput(
                plan=plan,
                input=child_input,
                subflows=rt.inp.subflows,
                subflow_versions=rt.inp.subflow_versions,
                connections=rt.inp.connections,
                started_by=rt.inp.started_by,
                tags=rt.inp.tags,
            ),
            id=cid,
            parent_close_policy=ParentClosePolicy.REQUEST_CANCEL,
            search_attributes=TypedSearchAttributes(pairs),
            static_summary=f"{plan.name}@{plan.version}",
        )
    return result
