"""Parse template documents from YAML or JSON text into plain dicts.

YAML and JSON load the same (JSON is YAML's subset, but JSON input goes through
`json` for exact error positions). Duplicate mapping keys are errors: a template
with two `when:` on one step is a mistake, not "last one wins".
"""

from __future__ import annotations

import json
from typing import Any, Literal

import yaml


class TemplateSyntaxError(ValueError):
    """Unparsable template text; `line`/`column` are 1-based when known."""

    def __init__(self, message: str, line: int | None = None, column: int | None = None) -> None:
        self.line = line
        self.column = column
        where = f" (line {line}, column {column})" if line is not None else ""
        super().__init__(f"{message}{where}")


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that rejects duplicate keys and keeps timestamps/dates as strings."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> Any:
    loader.flatten_mapping(node)
    seen: dict[Any, yaml.Node] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)  # type: ignore[no-untyped-call]
        if key in seen:
            mark = key_node.start_mark
            raise TemplateSyntaxError(f"duplicate key {key!r}", mark.line + 1, mark.column + 1)
        seen[key] = key_node
    return loader.construct_mapping(node, deep=deep)


def _construct_str(loader: _UniqueKeyLoader, node: yaml.ScalarNode) -> Any:
    return loader.construct_scalar(node)


_UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _construct_mapping,  # type: ignore[arg-type]
)
# `2024-01-01` stays a string: templates are JSON-shaped, and a datetime would not
# survive the Temporal data converter.
_UniqueKeyLoader.add_constructor("tag:yaml.org,2002:timestamp", _construct_str)  # type: ignore[arg-type]


def load_document(
    text: str | bytes, *, fmt: Literal["yaml", "json"] | None = None
) -> dict[str, Any]:
    """Parse a template document; `fmt=None` guesses (JSON when it starts with `{`).

    Raises TemplateSyntaxError (a ValueError) with line/column for unparsable text
    or when the top level is not a mapping.
    """
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError as e:
            raise TemplateSyntaxError(f"the document is not valid UTF-8: {e.reason}") from None
    if fmt is None:
        fmt = "json" if text.lstrip().startswith("{") else "yaml"
    data: Any
    if fmt == "json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise TemplateSyntaxError(f"invalid JSON: {e.msg}", e.lineno, e.colno) from None
    else:
        try:
            data = yaml.load(text, Loader=_UniqueKeyLoader)
        except TemplateSyntaxError:
            raise
        except yaml.MarkedYAMLError as e:
            mark = e.problem_mark or e.context_mark
            problem = e.problem or e.context or "invalid YAML"
            if mark is not None:
                raise TemplateSyntaxError(
                    f"invalid YAML: {problem}", mark.line + 1, mark.column + 1
                ) from None
            raise TemplateSyntaxError(f"invalid YAML: {problem}") from None
        except yaml.YAMLError as e:
            raise TemplateSyntaxError(f"invalid YAML: {e}") from None
    if not isinstance(data, dict):
        kind = "empty" if data is None else type(data).__name__
        raise TemplateSyntaxError(f"a template must be a mapping at the top level, got {kind}")
    return data
