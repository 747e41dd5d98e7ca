"""JSON Schemas inside templates (`input_schema`, approval `form`): check and use them offline.

One place decides whether a schema is usable: it must be a valid schema for its
dialect and every `$ref` in it must resolve *within the schema itself* (or to a
bundled meta-schema). Nothing is ever downloaded: a `$ref` to another document
is a save-time finding, and at run time it fails like any unresolvable reference
(`SchemaUnusable`), never with a network call or a traceback.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import jsonschema
import referencing.exceptions
from jsonschema import Draft202012Validator
from jsonschema.protocols import Validator
from jsonschema_specifications import REGISTRY as META_SCHEMAS
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012, specification_with

_REF_KEYS = ("$ref", "$dynamicRef")


class SchemaUnusable(ValueError):
    """A schema that cannot check anything (invalid, or a `$ref` that does not resolve)."""


def _offline(uri: str) -> Resource[Any]:
    raise LookupError(f"{uri} is another document (remote schemas are not fetched)")


#: the bundled meta-schemas; any other document is refused instead of fetched
OFFLINE: Registry[Any] = Registry(retrieve=_offline).combine(META_SCHEMAS)  # type: ignore[call-arg]


def _problems(schema: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """`(where, message)` of every problem; `where` is a JSON-pointer-ish path ("" = root)."""
    cls = jsonschema.validators.validator_for(schema, default=Draft202012Validator)
    try:
        cls.check_schema(schema)
    except jsonschema.SchemaError as e:
        yield "/".join(str(p) for p in e.absolute_path), e.message
        return
    spec = specification_with(str(schema.get("$schema", "")), default=DRAFT202012)
    root = spec.create_resource(schema)
    registry = OFFLINE.with_resource(root.id() or "", root)
    yield from _refs(registry.resolver(root.id() or ""), root, [])
    try:  # `{"$ref": "#"}` and friends loop without consuming the instance
        for _ in cls(schema, registry=registry).iter_errors({}):
            pass
    except RecursionError:
        yield "", "its $refs refer to each other in an endless loop"
    except referencing.exceptions.Unresolvable:
        pass  # reported by the walk above


def _refs(
    resolver: referencing.Resolver[Any], resource: Resource[Any], path: list[str]
) -> Iterator[tuple[str, str]]:
    contents = resource.contents
    if isinstance(contents, Mapping):
        for key in _REF_KEYS:
            ref = contents.get(key)
            if isinstance(ref, str):
                where = "/".join([*path, key])
                try:
                    resolver.lookup(ref)
                except referencing.exceptions.Unresolvable as e:
                    yield where, _unresolved(ref, e)
        for key, value in contents.items():
            yield from _sub(resolver, resource, value, [*path, str(key)])


def _sub(
    resolver: referencing.Resolver[Any], parent: Resource[Any], value: Any, path: list[str]
) -> Iterator[tuple[str, str]]:
    """Descend into subschemas the dialect knows (`properties`, `items`, `$defs`, ...)."""
    subs = {id(s.contents): s for s in parent.subresources()}
    candidates: list[tuple[Any, list[str]]] = [(value, path)]
    if isinstance(value, list):
        candidates = [(v, [*path, str(i)]) for i, v in enumerate(value)]
    elif isinstance(value, Mapping) and id(value) not in subs:
        candidates = [(v, [*path, str(k)]) for k, v in value.items()]
    for item, where in candidates:
        sub = subs.get(id(item))
        if sub is not None:
            yield from _refs(resolver.in_subresource(sub), sub, where)


def _unresolved(ref: str, e: referencing.exceptions.Unresolvable) -> str:
    if isinstance(e.__cause__, referencing.exceptions.Unretrievable) or isinstance(
        e, referencing.exceptions.Unretrievable
    ):
        return (
            f"$ref {ref!r} points to another document, which is never fetched: "
            "put the definition under $defs and refer to it as '#/$defs/...'"
        )
    return f"$ref {ref!r} does not resolve within this schema"


def schema_problems(schema: Any) -> list[str]:
    """Why `schema` cannot be used to check data (empty when it can); never raises."""
    if not isinstance(schema, Mapping):
        return [f"a schema must be a mapping, got {type(schema).__name__}"]
    try:
        return [f"{msg} (at {where})" if where else msg for where, msg in _problems(schema)]
    except RecursionError:
        return ["the schema is nested too deeply"]


def validator(schema: Mapping[str, Any], *, formats: bool = False) -> Validator:
    """A validator that never fetches anything; `SchemaUnusable` for an invalid schema."""
    cls = jsonschema.validators.validator_for(schema, default=Draft202012Validator)
    try:
        cls.check_schema(schema)
    except jsonschema.SchemaError as e:
        raise SchemaUnusable(f"invalid schema: {e.message}") from None
    kwargs: dict[str, Any] = {"format_checker": cls.FORMAT_CHECKER} if formats else {}
    return cls(schema, registry=OFFLINE, **kwargs)  # type: ignore[call-arg]


def errors(
    schema: Mapping[str, Any], data: Any, *, formats: bool = False
) -> list[jsonschema.ValidationError]:
    """Every error of `data` (sorted by path); `SchemaUnusable` when the schema cannot check it."""
    v = validator(schema, formats=formats)
    try:
        found = list(v.iter_errors(data))
    except referencing.exceptions.Unresolvable as e:
        raise SchemaUnusable(f"a $ref does not resolve: {_first_line(e)}") from None
    except RecursionError:
        raise SchemaUnusable("its $refs refer to each other in an endless loop") from None
    except jsonschema.SchemaError as e:
        raise SchemaUnusable(f"invalid schema: {e.message}") from None
    return sorted(found, key=lambda e: ([str(p) for p in e.absolute_path], e.message))


def _first_line(e: Exception) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__
