"""Semantic rules on a schema-valid template (SPEC §2 "Validation").

Expressions (syntax, names in scope, `steps.<id>` upstream-only), actions and
their `with:` fields, approvals (quorum, outcomes, form), SLA levels, run_if,
foreach/loop/wait/set details, outputs, input_schema and subflows (unknown
targets, cycles). Choices are documented in docs/templates.md ("Validation").
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from workflows._schema_errors import field_names
from workflows._validate_graph import upstream
from workflows._validate_hints import expression_hint, set_keys, var_refs
from workflows.expressions import (
    ExpressionError,
    check,
    dynamic_steps_access,
    embedded,
    evaluate,
    step_refs,
)
from workflows.json_schemas import schema_problems
from workflows.model import Approval, SlaLevel, Step, Template

Add = Callable[[str, str], None]
Resolver = Callable[[str, int | None], Template | None]

BASE_NAMES = frozenset({"input", "steps", "vars", "run"})
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_MAX_SUBFLOW_DEPTH = 50


@dataclass(frozen=True)
class Scope:
    """What an expression at some place may name."""

    names: frozenset[str]
    allowed: frozenset[str]  # step ids `steps.<id>` may reference here
    known: frozenset[str]  # every id of this and enclosing levels (for messages)


def _path(loc: str, key: Any) -> str:
    if isinstance(key, int):
        return f"{loc}[{key}]"
    return f"{loc}.{key}" if _IDENT.match(str(key)) else f"{loc}[{str(key)!r}]"


class Checker:
    def __init__(self, actions: Mapping[str, type[BaseModel] | None], add: Add) -> None:
        self.actions = actions
        self.add = add
        # keys any `set` step writes (None: unknown, e.g. a partial template)
        self.var_names: frozenset[str] | None = None

    # -------------------------------------------------------------- expressions

    def expr(self, source: str, loc: str, scope: Scope) -> None:
        """A bare CEL expression (`when`, `until`, `check`, `items`)."""
        if "${{" in source:
            self.add(loc, f"write a bare expression here, without ${{{{ }}}}: `{source}`")
            return
        self._refs(source, loc, scope)

    def _refs(self, source: str, loc: str, scope: Scope) -> None:
        try:
            check(source, scope.names)
        except ExpressionError as e:
            self.add(loc, str(e) + expression_hint(source))
            return
        if "vars" in scope.names and self.var_names is not None:
            for name in sorted(var_refs(source) - self.var_names):
                self.add(loc, f"expression `{source}`: no set step writes vars.{name}")
        if "steps" not in scope.names:
            return
        if dynamic_steps_access(source):
            self.add(
                loc,
                f"expression `{source}`: name steps by a literal id (steps.<id> or "
                "steps['<id>']) so the reference can be checked",
            )
        for ref in sorted(step_refs(source)):
            if ref in scope.allowed:
                continue
            if ref in scope.known:
                self.add(
                    loc,
                    f"expression `{source}`: step '{ref}' is not upstream of this step "
                    "(add it to depends_on, directly or through another step)",
                )
            else:
                close = difflib.get_close_matches(ref, sorted(scope.known), n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                self.add(loc, f"expression `{source}`: no step '{ref}'{hint}")

    def value(self, value: Any, loc: str, scope: Scope) -> None:
        """Every `${{ }}` inside a value (strings of nested dicts/lists)."""
        if isinstance(value, str):
            try:
                sources = embedded(value)
            except ExpressionError as e:
                self.add(loc, str(e))
                return
            for source in sources:
                self._refs(source, loc, scope)
        elif isinstance(value, Mapping):
            for k, v in value.items():
                self.value(v, _path(loc, k), scope)
        elif isinstance(value, list):
            for i, v in enumerate(value):
                self.value(v, _path(loc, i), scope)

    # -------------------------------------------------------------- actions

    def action(self, name: str, params: Mapping[str, Any] | None, loc: str, wloc: str) -> None:
        if name not in self.actions:
            known = ", ".join(sorted(self.actions)) or "none"
            close = difflib.get_close_matches(name, list(self.actions), n=1)
            hint = f"did you mean '{close[0]}'? " if close else ""
            self.add(loc, f"unknown action '{name}' ({hint}registered: {known})")
            return
        model = self.actions[name]
        if model is None or params is None:
            return
        allowed = field_names(model) + list(model.model_fields)
        extra_ok = model.model_config.get("extra") == "allow"
        literal: dict[str, Any] = {}
        for key, val in params.items():
            if key not in allowed and not extra_ok:
                close = difflib.get_close_matches(key, field_names(model), n=1)
                hint = (
                    f"did you mean '{close[0]}'?"
                    if close
                    else f"allowed: {', '.join(field_names(model))}"
                )
                self.add(_path(wloc, key), f"unknown field '{key}' for action '{name}' ({hint})")
            elif not _dynamic(val):
                literal[key] = val
        dynamic = set(params) - set(literal)
        try:
            model.model_validate(literal)
        except ValidationError as e:
            for err in e.errors(include_url=False):
                loc_t = err["loc"]
                head = str(loc_t[0]) if loc_t else ""
                if head in dynamic or err["type"] == "extra_forbidden":
                    continue  # resolved at run time / reported above
                where = wloc
                for part in loc_t:
                    where = _path(where, part)
                if err["type"] == "missing" and len(loc_t) == 1:
                    self.add(wloc, f"action '{name}' needs field '{head}'")
                elif not loc_t:
                    self.add(wloc, _strip_value_error(str(err["msg"])))
                else:
                    self.add(where, _strip_value_error(str(err["msg"])))


def _strip_value_error(msg: str) -> str:
    return msg[len("Value error, ") :] if msg.startswith("Value error, ") else msg


def _dynamic(value: Any) -> bool:
    """Resolved at run time: embeds `${{ }}` or a `secret:NAME` somewhere."""
    if isinstance(value, str):
        return "${{" in value or value.startswith("secret:")
    if isinstance(value, Mapping):
        return any(_dynamic(v) for v in value.values())
    if isinstance(value, list):
        return any(_dynamic(v) for v in value)
    return False


def _schema(schema: Any, loc: str, what: str, add: Add) -> None:
    """A JSON Schema the template carries: valid, and every `$ref` resolves offline."""
    for problem in schema_problems(schema):
        add(loc, f"invalid {what}: {problem}")


def check_template(
    template: Template,
    actions: Mapping[str, type[BaseModel] | None],
    resolve: Resolver | None,
    add: Add,
    *,
    complete: bool = True,
) -> None:
    """Apply every semantic rule; findings go to `add(loc, msg)`.

    `complete=False` for a best-effort template whose broken steps were dropped:
    rules that need every step (which `vars` exist) are skipped.
    """
    from workflows._validate_steps import check_steps, check_subflows

    c = Checker(actions, add)
    if complete:
        c.var_names = frozenset(set_keys(template.steps))
    top_ids = frozenset(s.id for s in template.steps)
    if template.input_schema is not None:
        _schema(template.input_schema, "input_schema", "input_schema", add)
        declared = template.input_schema.get("type")
        if declared is not None and declared != "object":
            add(
                "input_schema.type", "input_schema must describe an object (run input is a mapping)"
            )
    approvals = _approvals(template.steps)
    run_scope = Scope(BASE_NAMES, top_ids, top_ids)
    sla_scope = Scope(BASE_NAMES | ({"task"} if approvals else set()), top_ids, top_ids)
    for j, level in enumerate(template.sla):
        check_sla(c, level, f"sla[{j}]", sla_scope, approvals)
    c.value(template.outputs, "outputs", run_scope)
    check_steps(c, template.steps, "steps", Scope(BASE_NAMES, frozenset(), top_ids))
    check_subflows(template, resolve, add)


def check_sla(
    c: Checker, level: SlaLevel, loc: str, scope: Scope, approvals: list[Approval] | None
) -> None:
    """One SLA level. `approvals`: the approval(s) it acts on (None = a non-approval step).

    Step-level `reassign`/`decide` need an approval step; run-level ones act on every
    approval open when the level fires, so the template must have one and `decide`
    must be an outcome of at least one of them.
    """
    if level.notify is not None:
        c.action(
            level.notify.action, level.notify.with_, f"{loc}.notify.action", f"{loc}.notify.with"
        )
        c.value(level.notify.with_, f"{loc}.notify.with", scope)
    run_level = loc.startswith("sla")
    if not approvals:
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
    if level.decide is not None:
        outcomes = [o for a in approvals for o in a.outcomes]
        if level.decide not in outcomes:
            c.add(
                f"{loc}.decide",
                f"decide '{level.decide}' is not an outcome of "
                f"{'any approval' if run_level else 'this approval'} "
                f"(outcomes: {', '.join(dict.fromkeys(outcomes))})",
            )


def literal_assignees(c: Checker, names: list[str], loc: str) -> None:
    """Assignees are user ids / role names as written: no `${{ }}` there."""
    if any("${{" in n for n in names):
        c.add(
            loc, "assignees are literal user ids and role names; expressions are not evaluated here"
        )


def check_items_literal(c: Checker, step: Step, loc: str) -> None:
    """A foreach whose items is a literal list must not be empty."""
    assert step.foreach is not None
    try:
        check(step.foreach.items, ())
    except ExpressionError:
        return  # uses names: decided at run time (or reported elsewhere)
    try:
        items = evaluate(step.foreach.items, {})
    except ExpressionError as e:
        c.add(loc, str(e))
        return
    if not isinstance(items, list):
        c.add(loc, f"items must evaluate to a list, got {type(items).__name__}")
    elif not items:
        c.add(loc, "items is an empty list: the foreach would never run its steps")


def _approvals(steps: list[Step]) -> list[Approval]:
    found: list[Approval] = []
    for s in steps:
        if s.approval is not None:
            found.append(s.approval)
        if s.body:
            found.extend(_approvals(s.body))
    return found


def upstream_of(steps: list[Step]) -> dict[str, frozenset[str]]:
    ids = {s.id for s in steps}
    graph = {s.id: [d for d in s.depends_on if d in ids and d != s.id] for s in steps}
    return upstream(graph)
