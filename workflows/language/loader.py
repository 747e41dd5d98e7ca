"""Parse template documents from YAML or JSON text into plain dicts.

YAML and JSON load the same (JSON is YAML's subset, but JSON input goes through
`json` for exact error positions). Duplicate mapping keys are errors: a template
with two `when:` on one step is a mistake, not "last one wins".
"""

from __future__ import annotations

import json
import math
from typing import Any, Literal

import yaml

from workflows.language import jsonsafe


class TemplateSyntaxError(ValueError):
    """Unparsable template text; `line`/`column` are 1-based when known."""

    def __init__(self, message: str, line: int | None = None, column: int | None = None) -> None:
        self.line = line
        self.column = column
        where = f" (line {line}, column {column})" if line is not None else ""
        super().__init__(f"{message}{where}")


#: bigger documents are refused before parsing (the API's body limit is the same)
MAX_DOCUMENT_BYTES = 1024 * 1024
#: YAML aliases (`*name`) per document, and the values they may add in all once expanded:
#: a few anchors for shared settings are fine, a "billion laughs" is not
MAX_ALIASES = 100
MAX_ALIAS_VALUES = 10_000
#: nesting limit of a document (a template needs a dozen levels; 300 made every reader fail)
MAX_DEPTH = 64


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that rejects duplicate keys, keeps timestamps/dates as strings, bounds aliases."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._aliases = 0
        self._alias_values = 0
        self._open: list[str | None] = []  # anchors of the nodes being composed
        self._sizes: dict[int, int] = {}

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        event = self.peek_event()
        anchor = getattr(event, "anchor", None)
        if isinstance(event, yaml.AliasEvent):
            self._alias(event, anchor)
            return super().compose_node(parent, index)  # type: ignore[no-untyped-call,no-any-return]
        self._open.append(anchor)
        try:
            return super().compose_node(parent, index)  # type: ignore[no-untyped-call,no-any-return]
        finally:
            self._open.pop()

    def _alias(self, event: yaml.AliasEvent, anchor: str | None) -> None:
        mark = event.start_mark
        line, column = (mark.line + 1, mark.column + 1) if mark is not None else (None, None)
        self._aliases += 1
        if self._aliases > MAX_ALIASES:
            raise TemplateSyntaxError(
                f"too many YAML aliases (more than {MAX_ALIASES} `*name` references)", line, column
            )
        if anchor in self._open:
            raise TemplateSyntaxError(f"alias *{anchor} refers to itself", line, column)
        target = self.anchors.get(anchor)
        if target is None:
            return  # PyYAML reports the undefined alias
        self._alias_values += _size(target, self._sizes)
        if self._alias_values > MAX_ALIAS_VALUES:
            raise TemplateSyntaxError(
                f"YAML aliases expand to too many values (more than {MAX_ALIAS_VALUES}) "
                f"at alias *{anchor}",
                line,
                column,
            )


def _size(node: yaml.Node, sizes: dict[int, int]) -> int:
    """Values in `node` with every alias expanded (memoized: shared nodes count each time)."""
    known = sizes.get(id(node))
    if known is not None:
        return known
    total = 1
    if isinstance(node, yaml.SequenceNode):
        total += sum(_size(n, sizes) for n in node.value)
    elif isinstance(node, yaml.MappingNode):
        total += sum(_size(k, sizes) + _size(v, sizes) for k, v in node.value)
    sizes[id(node)] = total
    return total


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> Any:
    loader.flatten_mapping(node)
    seen: dict[Any, yaml.Node] = {}
    for key_node, _ in node.value:
        mark = key_node.start_mark
        if not isinstance(key_node, yaml.ScalarNode):
            raise TemplateSyntaxError(
                "mapping keys must be strings (JSON), not a list or a mapping",
                mark.line + 1,
                mark.column + 1,
            )
        key = loader.construct_object(key_node, deep=deep)  # type: ignore[no-untyped-call]
        if not isinstance(key, str):
            raise TemplateSyntaxError(
                f"mapping key {key!r} is not a string (JSON keys are strings): quote it",
                mark.line + 1,
                mark.column + 1,
            )
        if key in seen:
            mark = key_node.start_mark
            raise TemplateSyntaxError(f"duplicate key {key!r}", mark.line + 1, mark.column + 1)
        seen[key] = key_node
    return loader.construct_mapping(node, deep=deep)


def _construct_str(loader: _UniqueKeyLoader, node: yaml.ScalarNode) -> Any:
    return loader.construct_scalar(node)


def _construct_float(loader: _UniqueKeyLoader, node: yaml.ScalarNode) -> Any:
    value = loader.construct_yaml_float(node)  # type: ignore[no-untyped-call]
    if not math.isfinite(value):
        mark = node.start_mark
        raise TemplateSyntaxError(
            f"{node.value!r} is not a finite number (NaN and infinity are not JSON)",
            mark.line + 1,
            mark.column + 1,
        )
    return value


def _refuse_tag(loader: _UniqueKeyLoader, node: yaml.Node) -> Any:
    mark = node.start_mark
    tag = node.tag.replace("tag:yaml.org,2002:", "!!")
    raise TemplateSyntaxError(
        f"YAML tag {tag} is not supported: documents hold JSON values only "
        "(strings, numbers, booleans, null, lists and mappings with string keys)",
        mark.line + 1,
        mark.column + 1,
    )


_UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _construct_mapping,  # type: ignore[arg-type]
)
# `2024-01-01` stays a string: templates are JSON-shaped, and a datetime would not
# survive the Temporal data converter.
_UniqueKeyLoader.add_constructor("tag:yaml.org,2002:timestamp", _construct_str)  # type: ignore[arg-type]
_UniqueKeyLoader.add_constructor("tag:yaml.org,2002:float", _construct_float)  # type: ignore[arg-type]
for _tag in ("binary", "set", "omap", "pairs"):
    _UniqueKeyLoader.add_constructor(f"tag:yaml.org,2002:{_tag}", _refuse_tag)  # type: ignore[arg-type]


def load_document(
    text: str | bytes, *, fmt: Literal["yaml", "json"] | None = None
) -> dict[str, Any]:
    """Parse a template document; `fmt=None` guesses (JSON when it starts with `{`).

    Raises TemplateSyntaxError (a ValueError) with line/column for unparsable text
    or when the top level is not a mapping.
    """
    if len(text) > MAX_DOCUMENT_BYTES:
        raise TemplateSyntaxError(
            f"the document is too large ({len(text)} bytes, at most {MAX_DOCUMENT_BYTES})"
        )
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError as e:
            raise TemplateSyntaxError(f"the document is not valid UTF-8: {e.reason}") from None
    if fmt is None:
        fmt = "json" if text.lstrip().startswith("{") else "yaml"
    try:
        data = _parse(text, fmt)
        if fmt == "yaml":  # JSON was checked while parsing
            jsonsafe.check(data, max_depth=MAX_DEPTH)
    except RecursionError:
        raise TemplateSyntaxError(f"the document is nested too deeply (more than {MAX_DEPTH} levels)") from None
    except jsonsafe.UnsafeJSON as e:
        raise TemplateSyntaxError(str(e)) from None
    if not isinstance(data, dict):
        kind = "empty" if data is None else type(data).__name__
        raise TemplateSyntaxError(f"a template must be a mapping at the top level, got {kind}")
    return data


def _parse(text: str, fmt: Literal["yaml", "json"]) -> Any:
    data: Any
    if fmt == "json":
        try:
            data = jsonsafe.loads(text, max_depth=MAX_DEPTH)
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
    return data
