"""Per-step semantic rules and subflow resolution (used by `workflows._validate_rules`)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from workflows._validate_rules import (
    Add,
    Checker,
    Resolver,
    Scope,
    _dynamic,
    _schema,
    check_items_literal,
    check_sla,
    literal_assignees,
    upstream_of,
)
from workflows.json_schemas import SchemaUnusable
from workflows.json_schemas import errors as schema_errors
from workflows.model import Step, Subflow, Template

_ITEM = frozenset({"item", "index"})
_ITERATION = frozenset({"iteration"})


def check_steps(c: Checker, steps: list[Step], prefix: str, scope: Scope) -> None:
    """Rules for one step list; nested bodies recurse with their own scope."""
    up = upstream_of(steps)
    body_ids = frozenset(s.id for s in steps)
    known = scope.known | body_ids
    for i, step in enumerate(steps):
        loc = f"{prefix}[{i}]"
        allowed = up.get(step.id, frozenset()) | scope.allowed
        here = Scope(scope.names, allowed, known)
        if step.when is not None:
            c.expr(step.when, f"{loc}.when", here)
        _run_if(c, step, loc)
        if step.with_ is not None and step.action is None:
            c.add(f"{loc}.with", "with: applies to action steps only (use subflow.input, set, ...)")
        if step.retry is not None and step.action is None:
            c.add(f"{loc}.retry", "retry applies to action steps only")
        if step.timeout is not None and step.action is None:
            hint = {"approval": "; use approval.timeout", "wait": "; use wait.duration"}
            c.add(
                f"{loc}.timeout",
                "timeout (per attempt) applies to action steps only" + hint.get(step.kind, ""),
            )
        if step.action is not None:
            c.action(step.action, step.with_ or {}, f"{loc}.action", f"{loc}.with")
            if step.with_:
                c.value(step.with_, f"{loc}.with", here)
        if step.approval is not None:
            _approval(c, step, loc, here)
        if step.gate is not None:
            c.expr(step.gate.check, f"{loc}.gate.check", here)
        if step.wait is not None:
            if (step.wait.duration is None) == (step.wait.until is None):
                c.add(f"{loc}.wait", "wait needs exactly one of duration or until")
            if step.wait.until is not None:
                if "${{" in step.wait.until:  # a string embedding ${{ }} is rendered
                    c.value(step.wait.until, f"{loc}.wait.until", here)
                else:
                    c.expr(step.wait.until, f"{loc}.wait.until", here)
        if step.set_ is not None:
            if not step.set_:
                c.add(f"{loc}.set", "set needs at least one name: value")
            c.value(step.set_, f"{loc}.set", here)
        if step.foreach is not None:
            c.expr(step.foreach.items, f"{loc}.foreach.items", here)
            check_items_literal(c, step, f"{loc}.foreach.items")
            inner = Scope(scope.names | _ITEM, allowed, known)
            check_steps(c, step.foreach.steps, f"{loc}.foreach.steps", inner)
        if step.loop is not None:
            inner = Scope(scope.names | _ITERATION, allowed, known)
            check_steps(c, step.loop.steps, f"{loc}.loop.steps", inner)
            loop_ids = frozenset(s.id for s in step.loop.steps)
            until = Scope(inner.names, allowed | loop_ids, known | loop_ids)
            c.expr(step.loop.until, f"{loc}.loop.until", until)
        if step.subflow is not None:
            c.value(step.subflow.input, f"{loc}.subflow.input", here)
        if step.fail is not None:
            c.value(step.fail.message, f"{loc}.fail.message", here)
        sla_names = scope.names | ({"task"} if step.approval is not None else set())
        sla_scope = Scope(frozenset(sla_names), allowed | {step.id}, known)
        for j, level in enumerate(step.sla):
            approvals = [step.approval] if step.approval is not None else None
            check_sla(c, level, f"{loc}.sla[{j}]", sla_scope, approvals)


def _run_if(c: Checker, step: Step, loc: str) -> None:
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


def _approval(c: Checker, step: Step, loc: str, here: Scope) -> None:
    a = step.approval
    assert a is not None
    aloc = f"{loc}.approval"
    users, roles = a.assignees.users, a.assignees.roles
    if not users and not roles:
        c.add(f"{aloc}.assignees", "an approval needs at least one assignee (users or roles)")
    literal_assignees(c, users + roles, f"{aloc}.assignees")
    dynamic_users = any("${{" in u for u in users)
    if isinstance(a.quorum, int):
        if a.quorum < 1:
            c.add(f"{aloc}.quorum", f"quorum must be at least 1 (got {a.quorum})")
        elif users and not roles and not dynamic_users and a.quorum > len(set(users)):
            c.add(
                f"{aloc}.quorum",
                f"quorum {a.quorum} is more than the {len(set(users))} listed users: "
                "no outcome could ever win",
            )
        elif a.quorum > 1 and a.assignees.pick == "least_loaded" and not users:
            c.add(
                f"{aloc}.quorum",
                "pick: least_loaded assigns one person, so quorum can be at most 1",
            )
    seen: set[str] = set()
    for k, outcome in enumerate(a.outcomes):
        if outcome in seen:
            c.add(f"{aloc}.outcomes[{k}]", f"duplicate outcome '{outcome}'")
        if outcome == "fail":
            c.add(
                f"{aloc}.outcomes[{k}]", "'fail' is reserved (on_timeout: fail); pick another name"
            )
        if not outcome.strip():
            c.add(f"{aloc}.outcomes[{k}]", "an outcome needs a name")
        seen.add(outcome)
    if a.on_timeout is not None:
        if a.on_timeout != "fail" and a.on_timeout not in a.outcomes:
            c.add(
                f"{aloc}.on_timeout",
                f"on_timeout '{a.on_timeout}' must be one of the outcomes "
                f"({', '.join(a.outcomes)}) or fail",
            )
        if a.timeout is None:
            c.add(f"{aloc}.on_timeout", "on_timeout needs approval.timeout")
    if a.form is not None:
        _schema(a.form, f"{aloc}.form", "form schema", c.add)
        if a.form.get("type", "object") != "object":
            c.add(f"{aloc}.form.type", "a form describes an object (the data a decider submits)")


def _subflows(steps: list[Step], prefix: str) -> Iterator[tuple[str, Subflow]]:
    for i, step in enumerate(steps):
        loc = f"{prefix}[{i}]"
        if step.subflow is not None:
            yield loc, step.subflow
        if step.foreach is not None:
            yield from _subflows(step.foreach.steps, f"{loc}.foreach.steps")
        if step.loop is not None:
            yield from _subflows(step.loop.steps, f"{loc}.loop.steps")


def _cycle_from(
    t: Template, path: list[str], resolve: Resolver, done: set[str]
) -> list[str] | None:
    if len(path) > 50:
        return path + ["…"]
    for _, sub in _subflows(t.steps, "steps"):
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


def _child_input(sub: Subflow, schema: dict[str, Any], loc: str, report: Add) -> None:
    """Literal parts of a subflow's input against the child's input_schema.

    Values embedding `${{ }}` are resolved at run time: they are left out, and so
    is their `required` entry; the child validates its whole input when it starts.
    """
    literal = {k: v for k, v in sub.input.items() if not _dynamic(v)}
    dynamic = set(sub.input) - set(literal)
    relaxed = dict(schema)
    if isinstance(relaxed.get("required"), list):
        relaxed["required"] = [r for r in relaxed["required"] if r not in dynamic]
    try:
        errors = schema_errors(relaxed, literal)
    except SchemaUnusable:
        return  # the child's own problem, reported when it was saved
    for err in errors:
        where = loc
        for part in err.absolute_path:
            where = f"{where}[{part}]" if isinstance(part, int) else f"{where}.{part}"
        report(where, f"does not match the input_schema of '{sub.template}': {err.message}")


def check_subflows(template: Template, resolve: Resolver | None, report: Add) -> None:
    """Unknown subflow targets and subflow cycles (self-reference by name included)."""
    done: set[str] = set()
    for loc, sub in _subflows(template.steps, "steps"):
        where = f"{loc}.subflow.template"
        if sub.template == template.name:
            report(
                where,
                f"subflow cycle: {template.name} → {template.name} (a template cannot run itself)",
            )
            continue
        if resolve is None:
            continue
        child = resolve(sub.template, sub.version)
        if child is None:
            version = f" version {sub.version}" if sub.version is not None else ""
            report(where, f"unknown template '{sub.template}'{version}")
            continue
        if child.input_schema:
            _child_input(sub, child.input_schema, f"{loc}.subflow.input", report)
        cycle = _cycle_from(child, [template.name, sub.template], resolve, done)
        if cycle:
            report(where, "subflow cycle: " + " → ".join(cycle))
