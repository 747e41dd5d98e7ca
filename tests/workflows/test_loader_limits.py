"""The loader's bounds: YAML alias expansion ("billion laughs"), recursion, document size."""

from __future__ import annotations

import time

import pytest

from workflows.language.loader import (
    MAX_ALIASES,
    MAX_DOCUMENT_BYTES,
    TemplateSyntaxError,
    load_document,
)


def laughs(levels: int = 9) -> str:
    lines = ["name: lol", 'a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, levels + 1):
        refs = ", ".join([f"*a{i - 1}"] * 9)
        lines.append(f"a{i}: &a{i} [{refs}]")
    return "\n".join(lines) + "\n"


def test_billion_laughs_is_refused_quickly_naming_the_line() -> None:
    began = time.monotonic()
    with pytest.raises(TemplateSyntaxError) as e:
        load_document(laughs())
    assert time.monotonic() - began < 1
    assert "aliases expand to too many values" in str(e.value)
    assert e.value.line is not None and 3 <= e.value.line <= 11


def test_too_many_aliases() -> None:
    text = "name: t\nx: &x 1\nys: [" + ", ".join(["*x"] * (MAX_ALIASES + 1)) + "]\n"
    with pytest.raises(TemplateSyntaxError) as e:
        load_document(text)
    assert "too many YAML aliases" in str(e.value) and e.value.line == 3


def test_a_few_aliases_for_shared_settings_still_load() -> None:
    text = """
name: t
retry: &retry {max_attempts: 5, initial_interval: 1s}
steps:
  - {id: a, action: log, retry: *retry}
  - id: b
    action: log
    retry: {<<: *retry, backoff: 3.0}
"""
    doc = load_document(text)
    assert doc["steps"][0]["retry"] == {"max_attempts": 5, "initial_interval": "1s"}
    assert doc["steps"][1]["retry"]["backoff"] == 3.0


def test_recursive_alias() -> None:
    with pytest.raises(TemplateSyntaxError) as e:
        load_document("name: t\nloop: &l [1, *l]\n")
    assert "refers to itself" in str(e.value) and e.value.line == 2


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_deep_nesting_is_a_syntax_error(fmt: str) -> None:
    text = '{"name": ' + "[" * 100_000 + "]" * 100_000 + "}"
    with pytest.raises(TemplateSyntaxError) as e:
        load_document(text, fmt=fmt)  # type: ignore[arg-type]
    assert "nested too deeply" in str(e.value)


def test_document_size_is_bounded() -> None:
    text = "name: t\ndescription: " + "x" * MAX_DOCUMENT_BYTES + "\n"
    with pytest.raises(TemplateSyntaxError, match="too large"):
        load_document(text)
