"""Case files of `relayflow test` (SPEC §13): load them, run them, compare, explain.

A case file (YAML or JSON):

```yaml
template: purchase-order        # optional; the command's TEMPLATE argument wins
mocks: {...}                    # optional defaults for every case (a case's own win)
decisions: {...}
cases:
  - name: small order skips the approval
    input: {amount: 200, ...}
    mocks: {check_budget: {output: {status: 200, body: {remaining: 5000}}}}
    decisions: {manager_approval: approved}
    allow_real: []
    expect:
      state: completed                       # exact
      output: {decision: not needed}         # only the fields given are compared
      steps: {manager_approval: skipped,     # a state, or fields of the step
              place_order: {state: succeeded, attempts: 1}}
      error: "check_budget"                  # text the run's error contains
```

Comparison (`compare`): `state` exactly; `output` and each step's fields as a subset
(a mapping's listed keys, recursively; lists and scalars exactly; 1 equals 1.0);
`error` (run and step) as text the actual error contains (`null`: no error). Each
mismatch is one readable line: `output.decision: expected 'approved', got 'rejected'`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

CASE_KEYS = {"name", "input", "mocks", "decisions", "allow_real", "expect"}
EXPECT_KEYS = {"state", "output", "steps", "error"}
FILE_KEYS = {"template", "mocks", "decisions", "cases"}


class CaseFileError(ValueError):
    """The case file cannot be used (a usage error: exit 2)."""


@dataclass
class Case:
    name: str
    body: dict[str, Any]
    expect: dict[str, Any] = field(default_factory=dict)


@dataclass
class CaseFile:
    template: str | None
    cases: list[Case]


def load(path: Path) -> CaseFile:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise CaseFileError(f"cannot read {path}: {e.strerror}") from None
    try:
        doc = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as e:
        raise CaseFileError(f"{path} is not valid {path.suffix.lstrip('.') or 'YAML'}: {e}") from None
    return parse(doc, str(path))


def parse(doc: Any, where: str = "case file") -> CaseFile:
    if not isinstance(doc, dict):
        raise CaseFileError(f"{where}: expected a mapping with `cases:`")
    unknown = set(doc) - FILE_KEYS
    if unknown:
        raise CaseFileError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    raw = doc.get("cases")
    if not isinstance(raw, list) or not raw:
        raise CaseFileError(f"{where}: `cases` must be a non-empty list")
    defaults = {k: doc.get(k) or {} for k in ("mocks", "decisions")}
    cases, seen = [], set()
    for i, c in enumerate(raw):
        loc = f"{where}: cases[{i}]"
        if not isinstance(c, dict):
            raise CaseFileError(f"{loc}: expected a mapping")
        unknown = set(c) - CASE_KEYS
        if unknown:
            raise CaseFileError(f"{loc}: unknown key(s) {', '.join(sorted(unknown))}")
        name = str(c.get("name") or f"case {i + 1}")
        if name in seen:
            raise CaseFileError(f"{loc}: duplicate case name {name!r}")
        seen.add(name)
        expect = c.get("expect") or {}
        if not isinstance(expect, dict) or set(expect) - EXPECT_KEYS:
            raise CaseFileError(f"{loc}.expect: a mapping of {', '.join(sorted(EXPECT_KEYS))}")
        body: dict[str, Any] = {"input": c.get("input") or {}}
        for key in ("mocks", "decisions"):
            merged = {**defaults[key], **(c.get(key) or {})}
            if merged:
                body[key] = merged
        if c.get("allow_real"):
            body["allow_real"] = list(c["allow_real"])
        cases.append(Case(name, body, expect))
    template = doc.get("template")
    return CaseFile(str(template) if template else None, cases)


# -- comparison -------------------------------------------------------------------------


def _show(value: Any) -> str:
    if isinstance(value, str):
        return repr(value)
    return json.dumps(value, sort_keys=True, default=str)


def _same(expected: Any, actual: Any) -> bool:
    if isinstance(expected, bool) or isinstance(actual, bool):
        return expected is actual
    if isinstance(expected, int | float) and isinstance(actual, int | float):
        return float(expected) == float(actual)
    return bool(expected == actual)


def _subset(expected: Any, actual: Any, path: str, out: list[str]) -> None:
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            out.append(f"{path}: expected a mapping {_show(expected)}, got {_show(actual)}")
            return
        for key, want in expected.items():
            sub = f"{path}.{key}" if path else str(key)
            if key not in actual:
                out.append(f"{sub}: missing (expected {_show(want)})")
            else:
                _subset(want, actual[key], sub, out)
        return
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            out.append(f"{path}: expected {_show(expected)}, got {_show(actual)}")
            return
        for i, (want, got) in enumerate(zip(expected, actual, strict=True)):
            _subset(want, got, f"{path}[{i}]", out)
        return
    if not _same(expected, actual):
        out.append(f"{path}: expected {_show(expected)}, got {_show(actual)}")


def _error(expected: Any, actual: Any, path: str, out: list[str]) -> None:
    if expected is None:
        if actual is not None:
            out.append(f"{path}: expected no error, got {_show(actual)}")
    elif actual is None or str(expected) not in str(actual):
        out.append(f"{path}: expected an error containing {_show(str(expected))}, got {_show(actual)}")


def compare(expect: dict[str, Any], result: dict[str, Any]) -> list[str]:
    """Every difference between a case's `expect` and the test's result, one line each."""
    out: list[str] = []
    if "state" in expect and expect["state"] != result.get("state"):
        why = f" (error: {result['error']})" if result.get("error") else ""
        out.append(f"state: expected {_show(expect['state'])}, got {_show(result.get('state'))}{why}")
    if "error" in expect:
        _error(expect["error"], result.get("error"), "error", out)
    if "output" in expect:
        _subset(expect["output"], result.get("output"), "output", out)
    steps = result.get("steps") or {}
    for step, want in (expect.get("steps") or {}).items():
        path = f"steps.{step}"
        got = steps.get(step)
        if got is None:
            out.append(f"{path}: no such step in the run (steps: {', '.join(steps)})")
            continue
        fields = want if isinstance(want, dict) else {"state": want}
        for key, value in fields.items():
            if key == "error":
                _error(value, got.get("error"), f"{path}.error", out)
            elif key not in got:
                out.append(f"{path}.{key}: not a step field ({', '.join(sorted(got))})")
            else:
                _subset(value, got[key], f"{path}.{key}", out)
    return out
