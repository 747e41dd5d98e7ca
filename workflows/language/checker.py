"""The validation framework: `Checker` (where findings go, and the checks every kind
uses: expressions, values with `${{ }}`, action names and their `with:` fields) and
`Scope` (what an expression at some place may name).

Kinds call these from their `check`; `workflows.language.rules` walks the template.
Choices are documented in docs/templates.md ("Validation").
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from workflows.language.expressions import (
    ExpressionError,
    check,
    dynamic_steps_access,
    embedded,
    step_refs,
)
from workflows.language.hints import expression_hint, var_refs
from workflows.language.json_schemas import schema_problems
from workflows.language.model import StepBase, Template
from workflows.language.schema_errors import field_names
from workflows.language.structure import upstream
from workflows.language.trust import (
    connection_problem,
    secret_fields,
    secret_value_problem,
    takes_connection,
    target_problems,
)

Add = Callable[[str, str], None]
#: (template name, version or None for the latest) -> the parsed template, if it exists
Resolver = Callable[[str, int | None], Template | None]
#: action name -> its params model (None: any `with:` is accepted)
ActionModels = Mapping[str, type[BaseModel] | None]

BASE_NAMES = frozenset({"input", "steps", "vars", "run"})
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class Scope:
    """What an expression at some place may name."""

    names: frozenset[str]
    allowed: frozenset[str]  # step ids `steps.<id>` may reference here
    known: frozenset[str]  # every id of this and enclosing levels (for messages)


def path(loc: str, key: Any) -> str:
    """`loc` extended by a key or index, as users write it (`a.b`, `a[0]`, `a['x y']`)."""
    if isinstance(key, int):
        return f"{loc}[{key}]"
    return f"{loc}.{key}" if _IDENT.match(str(key)) else f"{loc}[{str(key)!r}]"


class Checker:
    """Collects findings for one template; holds what the rules need to look things up."""

    def __init__(
        self,
        actions: ActionModels,
        add: Add,
        *,
        template: str = "",
        resolve: Resolver | None = None,
        connection_exists: Callable[[str], bool] | None = None,
    ) -> None:
        self.actions = actions
        self.add = add
        #: the name of the template being checked (subflow cycles)
        self.template = template
        #: other templates by name/version (subflows); None = not checked
        self.resolve = resolve
        #: whether a `connection:` name exists; None = not checked
        self.connection_exists = connection_exists
        #: locs of declared secret fields met (`secret:NAME` may stand there only)
        self.secret_slots: set[str] = set()
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
                self.value(v, path(loc, k), scope)
        elif isinstance(value, list):
            for i, v in enumerate(value):
                self.value(v, path(loc, i), scope)

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
        self._trust(model, params, wloc)
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
                self.add(path(wloc, key), f"unknown field '{key}' for action '{name}' ({hint})")
            elif not dynamic(val):
                literal[key] = val
        computed = set(params) - set(literal)
        try:
            model.model_validate(literal)
        except ValidationError as e:
            for err in e.errors(include_url=False):
                loc_t = err["loc"]
                head = str(loc_t[0]) if loc_t else ""
                if head in computed or err["type"] == "extra_forbidden":
                    continue  # resolved at run time / reported above
                where = wloc
                for part in loc_t:
                    where = path(where, part)
                if err["type"] == "missing" and len(loc_t) == 1:
                    self.add(wloc, f"action '{name}' needs field '{head}'")
                elif not loc_t:
                    self.add(wloc, _strip_value_error(str(err["msg"])))
                else:
                    self.add(where, _strip_value_error(str(err["msg"])))


    def _trust(self, model: type[BaseModel], params: Mapping[str, Any], wloc: str) -> None:
        """SPEC §8: `secret:NAME` in declared fields only; `url` xor `connection`."""
        for key in secret_fields(model) & set(params):
            self.secret_slots.add(path(wloc, key))
            problem = secret_value_problem(params[key])
            if problem:
                self.add(path(wloc, key), problem)
        if takes_connection(model):
            for problem in target_problems(params):
                self.add(wloc, problem)
            if "connection" in params:
                problem = connection_problem(params["connection"], self.connection_exists)
                if problem:
                    self.add(path(wloc, "connection"), problem)


def _strip_value_error(msg: str) -> str:
    return msg[len("Value error, ") :] if msg.startswith("Value error, ") else msg


def dynamic(value: Any) -> bool:
    """Resolved at run time: embeds `${{ }}` or a `secret:NAME` somewhere."""
    if isinstance(value, str):
        return "${{" in value or value.startswith("secret:")
    if isinstance(value, Mapping):
        return any(dynamic(v) for v in value.values())
    if isinstance(value, list):
        return any(dynamic(v) for v in value)
    return False


def check_schema(schema: Any, loc: str, what: str, add: Add) -> None:
    """A JSON Schema the template carries: valid, and every `$ref` resolves offline."""
    for problem in schema_problems(schema):
        add(loc, f"invalid {what}: {problem}")


def literal_assignees(c: Checker, names: list[str], loc: str) -> None:
    """Assignees are user ids / role names as written: no `${{ }}` there."""
    if any("${{" in n for n in names):
        c.add(
            loc, "assignees are literal user ids and role names; expressions are not evaluated here"
        )


def upstream_of(steps: list[StepBase]) -> dict[str, frozenset[str]]:
    """Transitive upstream step ids of every step of one list."""
    ids = {s.id for s in steps}
    graph = {s.id: [d for d in s.depends_on if d in ids and d != s.id] for s in steps}
    return upstream(graph)
