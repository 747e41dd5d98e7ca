"""Offline template work for `relayflow validate` and `relayflow graph`: no server needed.

Validation runs the very code the API runs (`workflows.language.loader` + `workflows.language.validate`),
so the findings are the API's; this module only adds *where* in the file each one is:
a finding's `loc` (`steps[3].approval.quorum`) is walked through the YAML node tree
(`yaml.compose`, which also reads JSON) to the line the user typed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from workflows.language.loader import TemplateSyntaxError, load_document

_TOKEN = re.compile(r"\[(\d+)\]|\[([^\]]+)\]|([^.\[\]]+)")


@dataclass
class Problem:
    """One finding placed in a file: `file:line: loc: message`."""

    file: str
    line: int | None
    loc: str
    msg: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.loc}: {self.msg}" if self.loc else f"{where}: {self.msg}"


def fmt_of(path: Path) -> str:
    return "json" if path.suffix.lower() == ".json" else "yaml"


def loc_tokens(loc: str) -> list[str | int]:
    """`steps[3].approval.quorum` -> `["steps", 3, "approval", "quorum"]` (`a.3.b` works too)."""
    out: list[str | int] = []
    for index, key, word in _TOKEN.findall(loc.strip().lstrip("$").lstrip(".")):
        if index:
            out.append(int(index))
        elif key:
            out.append(key.strip("'\""))
        elif word.isdigit():
            out.append(int(word))
        elif word:
            out.append(word)
    return out


def _scalar(node: yaml.Node) -> Any:
    return node.value if isinstance(node, yaml.ScalarNode) else None


def locate(text: str, loc: str) -> int | None:
    """1-based line of the deepest node of `loc` present in `text` (None when unparsable).

    A missing tail (a required field not written) lands on its parent: the closest
    thing to point at. Sequences of steps may also be addressed by step id.
    """
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return None
    if node is None:
        return None
    line = node.start_mark.line + 1
    for tok in loc_tokens(loc):
        if isinstance(node, yaml.MappingNode):
            hit = next(((k, v) for k, v in node.value if str(_scalar(k)) == str(tok)), None)
            if hit is None:
                break
            line, node = hit[0].start_mark.line + 1, hit[1]
        elif isinstance(node, yaml.SequenceNode):
            if isinstance(tok, int):
                if not 0 <= tok < len(node.value):
                    break
                node = node.value[tok]
            else:
                found = None
                for item in node.value:
                    if isinstance(item, yaml.MappingNode) and any(
                        _scalar(k) == "id" and _scalar(v) == tok for k, v in item.value
                    ):
                        found = item
                        break
                if found is None:
                    break
                node = found
            line = node.start_mark.line + 1
        else:
            break
    return line


def _finding_parts(finding: Any) -> tuple[str, str]:
    if isinstance(finding, dict):
        return str(finding.get("loc", "")), str(finding.get("msg", ""))
    return str(getattr(finding, "loc", "")), str(getattr(finding, "msg", finding))


def place(file: str, text: str, findings: list[Any]) -> list[Problem]:
    """Findings (objects or API `{loc, msg}` dicts) with their line in `text`."""
    out = []
    for f in findings:
        loc, msg = _finding_parts(f)
        out.append(Problem(file, locate(text, loc) if loc else None, loc, msg))
    return out


class _Local:
    """Resolve `subflow` targets offline from the files given and their directories.

    A target that is not a local file may well be in the registry, which only the
    API can see: its "unknown template" finding is dropped offline (`push` checks it).
    """

    def __init__(self, docs: dict[str, dict[str, Any]]) -> None:
        self.docs = docs

    def __call__(self, name: str, version: int | None = None) -> Any:
        from workflows.language.model import Template

        doc = self.docs.get(name)
        if doc is None:
            return None
        try:
            return Template.model_validate(doc)
        except ValueError:
            return None

    def keep(self, finding: Any) -> bool:
        loc, msg = _finding_parts(finding)
        m = re.match(r"unknown template '([^']+)'", msg)
        return not (loc.endswith("subflow.template") and m and m.group(1) not in self.docs)


def _sibling_resolver(paths: list[Path]) -> _Local:
    docs: dict[str, dict[str, Any]] = {}
    dirs = {p.parent for p in paths}
    candidates = list(paths) + [
        q
        for d in dirs
        for q in sorted(d.iterdir())
        if q.suffix.lower() in (".yaml", ".yml", ".json")
    ]
    for q in candidates:
        try:
            doc = load_document(q.read_text(encoding="utf-8"), fmt=fmt_of(q))  # type: ignore[arg-type]
        except (OSError, TemplateSyntaxError):
            continue
        name = doc.get("name")
        if isinstance(name, str):
            docs.setdefault(name, doc)

    return _Local(docs)


def check_text(
    file: str, text: str, fmt: str, resolver: _Local | None
) -> tuple[Any, list[Problem]]:
    """(validated template or None, problems) for one document's text."""
    from activities.registry import action_models
    from workflows.language.validate import validate_template

    try:
        doc = load_document(text, fmt=fmt)  # type: ignore[arg-type]
    except TemplateSyntaxError as e:
        msg = str(e).split(" (line ")[0] if e.line else str(e)
        return None, [Problem(file, e.line, "", msg)]
    actions = action_models()
    result = validate_template(doc, actions=actions, resolve_template=resolver)
    findings = [f for f in result.findings if resolver is None or resolver.keep(f)]
    problems = place(file, text, findings)
    template = result.template
    if template is None and not problems:  # only registry-side subflow targets were missing
        template = validate_template(doc, actions=actions).template
    return (None if problems else template), problems


def check_files(paths: list[Path]) -> list[Problem]:
    """Validate each file like the API would; every problem found, in file order."""
    resolver = _sibling_resolver(paths)
    problems: list[Problem] = []
    for p in paths:
        try:
            text = p.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            problems.append(Problem(str(p), None, "", f"cannot read: {e}"))
            continue
        problems.extend(check_text(str(p), text, fmt_of(p), resolver)[1])
    return problems


def mermaid(path: Path) -> tuple[str | None, list[Problem]]:
    """Mermaid text of a valid template file, or the problems that stop drawing it."""
    from workflows.language.graph import to_mermaid

    text = path.read_text(encoding="utf-8")
    template, problems = check_text(str(path), text, fmt_of(path), _sibling_resolver([path]))
    if template is None:
        return None, problems
    return to_mermaid(template), []
