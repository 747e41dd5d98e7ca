"""Validate a template before anything runs (SPEC §2 "Validation").

`validate_template` collects every finding at once (sorted by location) instead
of stopping at the first: schema errors (unknown fields included), step shape
(exactly one kind, unique ids, known `depends_on`, no cycles) and the semantic
rules in `workflows._validate_rules` (expressions, actions, approvals, SLA,
subflows). It never raises: an unexpected exception becomes a finding at loc "".

Command line: `python -m workflows.validate --schema` prints the JSON Schema of
the template language (docs/template.schema.json); `python -m workflows.validate
FILE...` validates template files and prints findings.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

from workflows._schema_errors import translate
from workflows._validate_graph import check_structure
from workflows._validate_limits import TemplateLimits, over_limits
from workflows.model import SlaLevel, Step, Template

log = logging.getLogger("relayflow.validate")

ActionModels = Mapping[str, type[BaseModel] | None]
Resolver = Callable[[str, int | None], Template | None]

#: used when activities.registry cannot be imported (names only, no field check)
BUILTIN_ACTIONS = ("http", "email", "slack", "webhook", "log")


@dataclass
class Finding:
    """One problem: `loc` like `steps[3].approval.quorum` ("" = the whole template)."""

    loc: str
    msg: str


@dataclass
class ValidationResult:
    """`template` is the parsed template when valid, else None."""

    template: Template | None
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings


def default_actions() -> dict[str, type[BaseModel] | None]:
    """The registered actions' params models; builtin names only if the registry is missing."""
    try:
        from activities.registry import action_models
    except ImportError:  # pragma: no cover - only while the registry is absent
        log.warning("activities.registry not importable; checking action names only")
        return dict.fromkeys(BUILTIN_ACTIONS)
    return dict(action_models())


def _sort_key(loc: str) -> list[Any]:
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", loc)]


def validate_template(
    doc: Mapping[str, Any] | Template,
    *,
    actions: ActionModels | None = None,
    resolve_template: Resolver | None = None,
    limits: TemplateLimits | None = None,
) -> ValidationResult:
    """Every problem in a template document (or model); never raises.

    A template over the size caps (`limits`) gets only those findings: the other
    checks are what a huge template makes slow."""
    findings: list[Finding] = []
    if isinstance(doc, Mapping) and (big := over_limits(doc, limits or TemplateLimits())):
        return ValidationResult(None, [Finding(loc, msg) for loc, msg in big])

    def add(loc: str, msg: str) -> None:
        findings.append(Finding(loc, msg))

    template: Template | None = None
    partial: Template | None = None
    try:
        if isinstance(doc, Template):
            template = doc
            raw: Any = doc.model_dump(by_alias=True, exclude_none=True)
        elif isinstance(doc, Mapping):
            raw = doc
            try:
                template = Template.model_validate(dict(doc))
            except ValidationError as e:
                for loc, msg in translate(Template, e):
                    add(loc, msg)
                partial = _best_effort(doc)
        else:
            add("", f"a template must be a mapping, got {type(doc).__name__}")
            return ValidationResult(None, findings)
        check_structure(raw.get("steps"), "steps", frozenset(), add)
        checked = template or partial
        if checked is not None:
            from workflows._validate_rules import check_template

            check_template(
                checked,
                actions if actions is not None else default_actions(),
                resolve_template,
                add,
                complete=template is not None,
            )
    except Exception as e:  # never a traceback for the user
        log.exception("validator crashed")
        add("", f"internal error while validating: {type(e).__name__}: {e}")
    unique: dict[tuple[str, str], Finding] = {}
    for f in findings:
        unique.setdefault((f.loc, f.msg), f)
    ordered = sorted(unique.values(), key=lambda f: (_sort_key(f.loc), f.msg))
    return ValidationResult(template if not ordered else None, ordered)


def _best_effort(raw: Mapping[str, Any]) -> Template | None:
    """A template of the parts that do parse, so semantic rules still run on them.

    A step that fails the schema becomes a placeholder with only its id and
    depends_on (no kind), so references to it are not reported a second time.
    """
    steps_raw = raw.get("steps")
    if not isinstance(steps_raw, list) or not steps_raw:
        return None
    steps: list[Step] = []
    for item in steps_raw:
        try:
            steps.append(Step.model_validate(item))
        except ValidationError:
            if not isinstance(item, Mapping) or not isinstance(item.get("id"), str):
                continue
            deps = item.get("depends_on")
            deps = [d for d in deps if isinstance(d, str)] if isinstance(deps, list) else []
            steps.append(Step.model_construct(id=item["id"], depends_on=deps))
    sla: list[SlaLevel] = []
    for level in raw.get("sla") or []:
        try:
            sla.append(SlaLevel.model_validate(level))
        except ValidationError:
            pass
    name = raw.get("name")
    outputs = raw.get("outputs")
    schema = raw.get("input_schema")
    return Template.model_construct(
        name=name if isinstance(name, str) else "",
        steps=steps,
        sla=sla,
        outputs=outputs if isinstance(outputs, dict) else {},
        input_schema=schema if isinstance(schema, dict) else None,
    )


def template_json_schema() -> dict[str, Any]:
    """The JSON Schema of the template language, as users write it (aliases)."""
    return Template.model_json_schema(by_alias=True)


def main(argv: list[str] | None = None) -> int:
    """CLI: `--schema` prints the JSON Schema; otherwise validate the given files."""
    import json
    import sys
    from pathlib import Path

    from workflows.loader import TemplateSyntaxError, load_document

    args = sys.argv[1:] if argv is None else argv
    if args == ["--schema"]:
        sys.stdout.write(json.dumps(template_json_schema(), indent=2, sort_keys=True) + "\n")
        return 0
    if not args:
        sys.stderr.write("usage: python -m workflows.validate --schema | FILE...\n")
        return 2
    status = 0
    for name in args:
        path = Path(name)
        try:
            doc = load_document(path.read_bytes(), fmt="json" if path.suffix == ".json" else "yaml")
        except (OSError, TemplateSyntaxError) as e:
            sys.stdout.write(f"{name}: {e}\n")
            status = 1
            continue
        result = validate_template(doc)
        for f in result.findings:
            sys.stdout.write(f"{name}: {f.loc or '<template>'}: {f.msg}\n")
        if not result.ok:
            status = 1
    return status


if __name__ == "__main__":
    raise SystemExit(main())
