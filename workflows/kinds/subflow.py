"""`subflow:` — another template as a child `TemplateWorkflow`.

The child's plan comes from `RunInput.subflows` (pinned at start): `name@version`
with `version` from the step, else `RunInput.subflow_versions[name]`. Child id:
`<run id>.<step address>` with characters outside `[A-Za-z0-9._-]` replaced by `-`.
Parent-close policy REQUEST_CANCEL (the child's cleanup steps run); cancelling the
step cancels the child and waits for it to finish. The child starts with search
attributes TemplateName, TemplateVersion, RunState=running (plus StartedBy/RunTags
inherited from the parent). Output: the child's outputs; a failed child fails the
step with the child's error.

Save time: the target template must exist (when a resolver is given), the literal
parts of `input` must match its `input_schema`, and templates must not reach
themselves through subflows (cycles).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, ClassVar

from pydantic import Field
from temporalio import workflow
from temporalio.workflow import ParentClosePolicy

from workflows.engine import testmode
from workflows.engine.context import StepContext, StepFailure
from workflows.engine.io import WORKFLOW_TYPE, RunInput
from workflows.engine.search_attributes import start_attributes
from workflows.language.checker import Checker, Resolver, Scope, dynamic
from workflows.language.expressions import render
from workflows.language.json_schemas import SchemaUnusable
from workflows.language.json_schemas import errors as schema_errors
from workflows.language.kinds import Kind
from workflows.language.model import StepBase, Strict, Template, TemplateName, walk

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
#: deeper subflow chains are reported as a cycle-like problem
MAX_DEPTH = 50


class Subflow(Strict):
    template: TemplateName
    version: int | None = Field(None, ge=1)
    input: dict[str, Any] = Field(default_factory=dict)


class SubflowStep(StepBase):
    kind: ClassVar[str] = "subflow"

    subflow: Subflow


def subflows(template: Template) -> Iterator[Subflow]:
    """Every `subflow:` block of a template, nested bodies included."""
    for step in walk(template.steps):
        if isinstance(step, SubflowStep):
            yield step.subflow


def check(c: Checker, step: SubflowStep, loc: str, here: Scope) -> None:
    sub = step.subflow
    c.value(sub.input, f"{loc}.subflow.input", here)
    where = f"{loc}.subflow.template"
    if sub.template == c.template:
        c.add(where, f"subflow cycle: {c.template} → {c.template} (a template cannot run itself)")
        return
    if c.resolve is None:
        return
    child = c.resolve(sub.template, sub.version)
    if child is None:
        version = f" version {sub.version}" if sub.version is not None else ""
        c.add(where, f"unknown template '{sub.template}'{version}")
        return
    if child.input_schema:
        _child_input(c, sub, child.input_schema, f"{loc}.subflow.input")
    cycle = _cycle_from(child, [c.template, sub.template], c.resolve, set())
    if cycle:
        c.add(where, "subflow cycle: " + " → ".join(cycle))


def _cycle_from(
    t: Template, path: list[str], resolve: Resolver, done: set[str]
) -> list[str] | None:
    if len(path) > MAX_DEPTH:
        return path + ["…"]
    for sub in subflows(t):
        if sub.template in path:
            return path[path.index(sub.template) :] + [sub.template]
        key = f"{sub.template}@{sub.version}"
        if key in done:
            continue
        child = resolve(sub.template, sub.version)
        if child is None:
            continue  # that template's own problem, reported when it is saved
        found = _cycle_from(child, [*path, sub.template], resolve, done)
        if found:
            return found
        done.add(key)
    return None


def _child_input(c: Checker, sub: Subflow, schema: dict[str, Any], loc: str) -> None:
    """Literal parts of a subflow's input against the child's input_schema.

    Values embedding `${{ }}` are resolved at run time: they are left out, and so
    is their `required` entry; the child validates its whole input when it starts.
    """
    literal = {k: v for k, v in sub.input.items() if not dynamic(v)}
    computed = set(sub.input) - set(literal)
    relaxed = dict(schema)
    if isinstance(relaxed.get("required"), list):
        relaxed["required"] = [r for r in relaxed["required"] if r not in computed]
    try:
        errors = schema_errors(relaxed, literal)
    except SchemaUnusable:
        return  # the child's own problem, reported when it was saved
    for err in errors:
        where = loc
        for part in err.absolute_path:
            where = f"{where}[{part}]" if isinstance(part, int) else f"{where}.{part}"
        c.add(where, f"does not match the input_schema of '{sub.template}': {err.message}")


def child_id(run_id: str, address: str) -> str:
    return _UNSAFE.sub("-", f"{run_id}.{address}")


async def run(ctx: StepContext, step: SubflowStep) -> Any:
    rt, spec = ctx.rt, step.subflow
    version = spec.version or rt.inp.subflow_versions.get(spec.template)
    plan = rt.inp.subflows.get(f"{spec.template}@{version}") if version else None
    if plan is None:
        raise StepFailure(
            f"subflow template {spec.template}@{version or '?'} was not pinned when the run started"
        )
    child_input = render(spec.input, ctx.scope())
    test = testmode.of(rt)
    if test is not None:  # a template test: subflow steps are always mocked (no child)
        return test.answer(ctx, {"template": f"{plan.name}@{plan.version}", "input": child_input}, None)
    cid = child_id(rt.run_id, ctx.address)
    ctx.set_detail(f"child {cid}")
    # a redrive of this run redrives the failed child too (SPEC §9; engine/redrive.py)
    redrive = rt.inp.redrive.children.get(ctx.address) if rt.inp.redrive is not None else None
    summary = f"{plan.name}@{plan.version}"
    if redrive is not None:
        summary += f" · redrive {redrive.count}"
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
                redrive=redrive,
                subscriptions=rt.inp.subscriptions,
            ),
            id=cid,
            parent_close_policy=ParentClosePolicy.REQUEST_CANCEL,
            search_attributes=start_attributes(
                plan.name, plan.version, rt.inp.started_by, rt.inp.tags
            ),
            static_summary=summary,
        )
    return result


KIND = Kind(
    model=SubflowStep,
    run=run,
    check=check,
    describe=lambda step: f"subflow: {step.subflow.template}",
    shape=('[["', '"]]'),
)
