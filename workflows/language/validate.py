"""Validate a template before anything runs (SPEC §2 "Validation").

`validate_template` collects every finding at once (sorted by location) instead
of stopping at the first: schema errors (unknown fields included, exactly one kind
key per step), step shape (unique ids, known `depends_on`, no cycles) and the
semantic rules of `workflows.language.rules` and of each kind (expressions,
actions, approvals, SLA, subflows). It never raises: an unexpected exception
becomes a finding at loc "".

The caller passes the action catalogue (name -> params model): the language knows
no actions of its own. `python -m workflows.language.validate --schema` prints the
JSON Schema of the template language (docs/template.schema.json).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from workflows.language.checker import ActionModels, Checker, Resolver
from workflows.language.limits import TemplateLimits, over_limits
from workflows.language.model import SlaLevel, StepBase, Template
from workflows.language.rules import check_template
from workflows.language.schema_errors import translate
from workflows.language.structure import check_structure
from workflows.language.trust import scan

log = logging.getLogger("relayflow.validate")


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


def _sort_key(loc: str) -> list[Any]:
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", loc)]


def validate_template(
    doc: Mapping[str, Any] | Template,
    *,
    actions: ActionModels,
    resolve_template: Resolver | None = None,
    connection_exists: Callable[[str], bool] | None = None,
    limits: TemplateLimits | None = None,
) -> ValidationResult:
    """Every problem in a template document (or model); never raises.

    `actions`: the registered actions (name -> params model, None to accept any
    `with:`); `resolve_template`: other templates for subflow checks (None: skipped);
    `connection_exists`: whether a `connection:` name is known (None: not checked). A
    template over the size caps (`limits`) gets only those findings: the other checks
    are what a huge template makes slow.
    """
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
            checker = Checker(
                actions,
                add,
                template=checked.name,
                resolve=resolve_template,
                connection_exists=connection_exists,
            )
            check_template(checker, checked, complete=template is not None)
            scan(raw, "", checker.secret_slots, add)
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
    steps: list[StepBase] = []
    for item in steps_raw:
        try:
            steps.append(Template.model_validate({"name": "x", "steps": [item]}).steps[0])
        except ValidationError:
            if not isinstance(item, Mapping) or not isinstance(item.get("id"), str):
                continue
            deps = item.get("depends_on")
            deps = [d for d in deps if isinstance(d, str)] if isinstance(deps, list) else []
            steps.append(StepBase.model_construct(id=item["id"], depends_on=deps))
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
    """`--schema` prints the JSON Schema (validate files with `relayflow validate`)."""
    import json
    import sys

    args = sys.argv[1:] if argv is None else argv
    if args != ["--schema"]:
        sys.stderr.write("usage: python -m workflows.language.validate --schema\n")
        return 2
    sys.stdout.write(json.dumps(template_json_schema(), indent=2, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
