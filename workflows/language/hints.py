"""Helpers for expression findings: hints for common mistakes, `vars` references."""

from __future__ import annotations

import re

from workflows.language.cel_lex import paths, tokenize

_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}.*)?$")


def expression_hint(source: str) -> str:
    """A nudge for the usual mistakes of people who know Python or YAML better than CEL."""
    text = source.strip()
    if _TIMESTAMP.match(text):
        return f" (a literal timestamp is a string: write \"'{text}'\" or timestamp('{text}'))"
    try:
        tokens = tokenize(source)
    except ValueError:
        return ""
    words = {t.text for t in tokens if t.kind == "ident"}
    if words & {"and", "or", "not"}:
        return " (CEL writes &&, || and ! instead of and, or, not)"
    if words & {"None", "True", "False"}:
        return " (CEL writes null, true and false)"
    if any(t.text == "=" for t in tokens):
        return " (compare with ==)"
    return ""


def var_refs(source: str) -> set[str]:
    """Names read as `vars.<name>` / `vars['<name>']`."""
    try:
        found = paths(tokenize(source))
    except ValueError:
        return set()
    return {str(p[1]) for p in found if len(p) > 1 and p[0] == "vars" and isinstance(p[1], str)}
