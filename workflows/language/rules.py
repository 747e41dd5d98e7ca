"""Semantic rules on a schema-valid template (SPEC §2 "Validation"), kind by kind.

`check_template` walks the steps: the rules every step shares (`when`, `run_if`,
`retry`/`timeout` only where the kind retries, SLA levels), then the step's own kind
(`Kind.check`), then its nested body (`<kind>.steps`) with the names the body adds
(`item`/`index`, `iteration`). Template-level: `input_schema`, run SLA levels,
`outputs` and which `vars` exist.
"""

from __future__ import annotations

from workflows.language import kinds
from workflows.language.checker import (
    BASE_NAMES,
    Checker,
    Scope,
    check_schema,
    literal_assignees,
    upstream_of,
)
from workflows.language.model import SlaLevel, StepBase, Template, walk

_TIMEOUT_HINTS = {"approval": "; use approval.timeout", "wait": "; use wait.duration"}


def check_template(c: Checker, template: Template, *, complete: bool = True) -> None:
    """Apply every semantic rule; findings go to `c.add(loc, msg)`.

    `complete=False` for a best-effort template whose broken steps were dropped:
    rules that need every step (which `vars` exist) are skipped.
    """
    if complete:
        c.var_names = frozenset(vars_written(template.steps))
    top_ids = frozenset(s.id for s in template.steps)
    if template.input_schema is not None:
        check_schema(template.input_schema, "input_schema", "input_schema", c.add)
        declared = template.input_schema.get("type")
        if declared is not None and declared != "object":
            c.add(
                "input_schema.type", "input_schema must describe an object (run input is a mapping)"
            )
    decided = decided_outcomes(template.steps)
    run_scope = Scope(BASE_NAMES, top_ids, top_ids)
    sla_scope = Scope(BASE_NAMES | ({"task"} if decided is not None else set()), top_ids, top_ids)
    for j, level in enumerate(template.sla):
        check_sla(c, level, f"sla[{j}]", sla_scope, decided)
    c.value(template.outputs, "outputs", run_scope)
    check_steps(c, template.steps, "steps", Scope(BASE_NAMES, frozenset(), top_ids))


def check_steps(c: Checker, steps: list[StepBase], prefix: str, scope: Scope) -> None:
    """Rules for one step list; nested bodies recurse with their own scope."""
    up = upstream_of(steps)
    known = scope.known | frozenset(s.id for s in steps)
    for i, step in enumerate(steps):
        kind = kinds.get(step.kind)
        if kind is None:  # a placeholder for a step that failed the schema
            continue
        loc = f"{prefix}[{i}]"
        allowed = up.get(step.id, frozenset()) | scope.allowed
        here = Scope(scope.names, allowed, known)
        if step.when is not None:
            c.expr(step.when, f"{loc}.when", here)
        _run_if(c, step, loc)
        if not kind.retries:
            if step.retry is not None:
                c.add(f"{loc}.retry", f"retry applies to action steps only, not {step.kind}")
            if step.timeout is not None:
                c.add(
                    f"{loc}.timeout",
                    "timeout (per attempt) applies to action steps only"
                    + _TIMEOUT_HINTS.get(step.kind, ""),
                )
        if kind.check is not None:
            kind.check(c, step, loc, here)
        body = step.body()
        if step.on_failure == "hold" and (body or not kind.holds):
            why = "its nested steps can be held instead" if body else "it fails on purpose"
            c.add(f"{loc}.on_failure", f"on_failure: hold does not apply to {step.kind} steps ({why})")
        if body:
            inner = Scope(scope.names | step.body_names, allowed, known)
            check_steps(c, body, f"{loc}.{step.kind}.steps", inner)
        outcomes = kind.outcomes(step) if kind.outcomes is not None else None
        sla_names = scope.names | ({"task"} if outcomes is not None else set())
        sla_scope = Scope(frozenset(sla_names), allowed | {step.id}, known)
        for j, level in enumerate(step.sla):
            check_sla(c, level, f"{loc}.sla[{j}]", sla_scope, outcomes)


def _run_if(c: Checker, step: StepBase, loc: str) -> None:
    if step.run_if != "all_succeeded" and not step.depends_on:
        c.add(
            f"{loc}.run_if",
            f"run_if: {step.run_if} needs depends_on (a step without dependencies always runs)",
        )
    elif step.run_if == "any_succeeded" and len(set(step.depends_on)) < 2:
        c.add(
            f"{loc}.run_if",
            "run_if: any_succeeded joins alternative branches and needs at least two "
            "dependencies; with one, use all_succeeded or none_failed",
        )


def check_sla(
    c: Checker, level: SlaLevel, loc: str, scope: Scope, outcomes: list[str] | None
) -> None:
    """One SLA level. `outcomes`: of the step(s) people decide it acts on (None: none).

    Step-level `reassign`/`decide` need a decided step (an approval); run-level ones
    act on every approval open when the level fires, so the template must have one and
    `decide` must be an outcome of at least one of them.
    """
    if level.notify is not None:
        c.action(
            level.notify.action, level.notify.with_, f"{loc}.notify.action", f"{loc}.notify.with"
        )
        c.value(level.notify.with_, f"{loc}.notify.with", scope)
    run_level = loc.startswith("sla")
    if outcomes is None:
        where = (
            "this template has no approval step" if run_level else "this is not an approval step"
        )
        if level.reassign is not None:
            c.add(f"{loc}.reassign", f"reassign applies to approvals only: {where}")
        if level.decide is not None:
            c.add(f"{loc}.decide", f"decide applies to approvals only: {where}")
        return
    if level.reassign is not None:
        if not (level.reassign.users or level.reassign.roles):
            c.add(f"{loc}.reassign", "reassign needs users or roles")
        literal_assignees(c, level.reassign.users + level.reassign.roles, f"{loc}.reassign")
    if level.decide is not None and level.decide not in outcomes:
        c.add(
            f"{loc}.decide",
            f"decide '{level.decide}' is not an outcome of "
            f"{'any approval' if run_level else 'this approval'} "
            f"(outcomes: {', '.join(dict.fromkeys(outcomes))})",
        )


def decided_outcomes(steps: list[StepBase]) -> list[str] | None:
    """Outcomes of every step people decide (approvals), at any depth; None if there is none."""
    found: list[str] | None = None
    for step in walk(steps):
        kind = kinds.get(step.kind)
        if kind is not None and kind.outcomes is not None:
            found = [*(found or []), *kind.outcomes(step)]
    return found


def vars_written(steps: list[StepBase]) -> set[str]:
    """Every `vars` key a step writes (`set` steps), at any depth."""
    names: set[str] = set()
    for step in walk(steps):
        kind = kinds.get(step.kind)
        if kind is not None and kind.writes is not None:
            names |= set(kind.writes(step))
    return names
