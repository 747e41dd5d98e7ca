"""JSON Schemas inside templates (`input_schema`, approval `form`): check and use them offline.

One place decides whether a schema is usable: it must be a valid schema for its
dialect and every `$ref` in it must resolve *within the schema itself* (or to a
bundled meta-schema). Nothing is ever downloaded: a `$ref` to another document
is a save-time finding, and at run time it fails like any unresolvable reference
(`SchemaUnusable`), never with a network call or a traceback.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

import jsonschema
import referencing.exceptions
from jsonschema import Draft202012Validator
from jsonschema.protocols import Validator
from jsonschema_specifications import REGISTRY as META_SCHEMAS
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012, specification_with

if TYPE_CHECKING:
    from referencing._core import Resolver

_REF_KEYS = ("$ref", "$dynamicRef")


class SchemaUnusable(ValueError):
    """A schema that cannot check anything (invalid, or a `$ref` that does not resolve)."""


def _offline(uri: str) -> Resource[Any]:
    raise LookupError(f"{uri} is another document (remote schemas are not fetched)")


#: the bundled meta-schemas; any other document is refused instead of fetched
OFFLINE: Registry[Any] = Registry(retrieve=_offline).combine(META_SCHEMAS)  # type: ignore[call-arg]


def _validator_class(schema: Mapping[str, Any]) -> type[Validator]:
    """The validator of the schema's dialect (`$schema`; 2020-12 by default)."""
    if not isinstance(schema.get("$schema", ""), str):
        raise SchemaUnusable("$schema must be a string (the URI of a JSON Schema dialect)")
    cls: type[Validator] = jsonschema.validators.validator_for(schema, default=Draft202012Validator)
    return cls


def _problems(schema: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """`(where, message)` of every problem; `where` is a JSON-pointer-ish path ("" = root)."""
    try:
        cls = _validator_class(schema)
    except SchemaUnusable as e:
        yield "$schema", str(e)
        return
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
    except Exception as e:  # noqa: BLE001 - whatever it is, the schema cannot be used
        yield "", f"the schema cannot check data: {type(e).__name__}: {e}"


def _refs(
    resolver: Resolver[Any], resource: Resource[Any], path: list[str]
) -> Iterator[tuple[str, str]]:
    """Look up every `$ref` of this subschema, then descend into the ones it contains."""
    contents = resource.contents
    if not isinstance(contents, Mapping):
        return
    for key in _REF_KEYS:
        ref = contents.get(key)
        if isinstance(ref, str):
            try:
                resolver.lookup(ref)
            except referencing.exceptions.Unresolvable as e:
                yield "/".join([*path, key]), _unresolved(ref, e)
    # the dialect knows which keywords hold subschemas (`properties`, `items`, `$defs`, ...)
    subs = {id(s.contents): s for s in resource.subresources()}
    for key, value in contents.items():
        for item, where in _children(value, [*path, str(key)], subs):
            sub = subs[id(item)]
            yield from _refs(resolver.in_subresource(sub), sub, where)


def _children(
    value: Any, path: list[str], subs: Mapping[int, Resource[Any]]
) -> Iterator[tuple[Any, list[str]]]:
    """`value` itself, or its items / values (`allOf: [...]`, `properties: {...}`), if subschemas."""
    if id(value) in subs:
        yield value, path
    elif isinstance(value, list):
        yield from ((v, [*path, str(i)]) for i, v in enumerate(value) if id(v) in subs)
    elif isinstance(value, Mapping):
        yield from ((v, [*path, str(k)]) for k, v in value.items() if id(v) in subs)


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
    cls = _validator_class(schema)
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
        raise SchemaUnusable(f"$ref {str(e.ref)!r} does not resolve") from None
    except RecursionError:
        raise SchemaUnusable("its $refs refer to each other in an endless loop") from None
    except jsonschema.SchemaError as e:
        raise SchemaUnusable(f"invalid schema: {e.message}") from None
    except Exception as e:  # noqa: BLE001 - user data: never a 500 or a failed workflow task
        raise SchemaUnusable(f"{type(e).__name__}: {e}") from None
    return sorted(found, key=lambda e: ([str(p) for p in e.absolute_path], e.message))
