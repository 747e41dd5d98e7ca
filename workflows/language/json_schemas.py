"""JSON Schemas inside templates (`input_schema`, approval `form`): check and use them offline.

Regular expressions (`pattern`, `patternProperties`) run on RE2 (google-re2):
linear time whatever the pattern and input, so a pattern cannot freeze the API
or a workflow task (Python's `re` took seconds on a 28-character input with a
common e-mail pattern). RE2 has no lookaround or backreferences; a schema whose
patterns need them is refused at save time.

One place decides whether a schema is usable: it must be a valid schema for its
dialect and every `$ref` in it must resolve *within the schema itself* (or to a
bundled meta-schema). Nothing is ever downloaded: a `$ref` to another document
is a save-time finding, and at run time it fails like any unresolvable reference
(`SchemaUnusable`), never with a network call or a traceback.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import jsonschema
import re2
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


_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False


@lru_cache(maxsize=1024)
def regex(pattern: str) -> Any:
    """The compiled RE2 pattern; `SchemaUnusable` when RE2 cannot compile it."""
    try:
        return re2.compile(pattern, _RE2_OPTIONS)
    except re2.error as e:
        detail = e.args[0].decode() if e.args and isinstance(e.args[0], bytes) else str(e)
        raise SchemaUnusable(
            f"pattern {pattern!r} is not supported: {detail} (patterns run on RE2: "
            "no lookaround or backreferences)"
        ) from None


def _pattern(validator: Any, patrn: str, instance: Any, schema: Any) -> Iterator[Any]:
    if validator.is_type(instance, "string") and not regex(patrn).search(instance):
        yield jsonschema.ValidationError(f"{instance!r} does not match {patrn!r}")


def _pattern_properties(validator: Any, patterns: Any, instance: Any, schema: Any) -> Iterator[Any]:
    if not validator.is_type(instance, "object"):
        return
    for patrn, subschema in patterns.items():
        rx = regex(patrn)
        for k, v in instance.items():
            if rx.search(k):
                yield from validator.descend(v, subschema, path=k, schema_path=patrn)


def _additional_properties(validator: Any, aP: Any, instance: Any, schema: Any) -> Iterator[Any]:
    if not validator.is_type(instance, "object"):
        return
    properties = schema.get("properties", {})
    patterns = [regex(p) for p in schema.get("patternProperties", {})]
    extras = [
        k for k in instance if k not in properties and not any(rx.search(k) for rx in patterns)
    ]
    if validator.is_type(aP, "object"):
        for extra in extras:
            yield from validator.descend(instance[extra], aP, path=extra)
    elif not aP and extras:
        joined = ", ".join(repr(e) for e in sorted(extras, key=str))
        if "patternProperties" in schema:
            listed = ", ".join(repr(p) for p in sorted(schema["patternProperties"]))
            yield jsonschema.ValidationError(f"{joined} do not match any of the regexes: {listed}")
        else:
            yield jsonschema.ValidationError(
                f"Additional properties are not allowed ({joined} unexpected)"
            )


_RE2_KEYWORDS = {
    "pattern": _pattern,
    "patternProperties": _pattern_properties,
    "additionalProperties": _additional_properties,
}


_EXTENDED: dict[Any, type[Validator]] = {}


def _with_re2(cls: type[Validator]) -> type[Validator]:
    """The dialect's validator with the RE2 keywords (one class per dialect)."""
    extended = _EXTENDED.get(cls)
    if extended is None:
        extended = _EXTENDED[cls] = jsonschema.validators.extend(cls, _RE2_KEYWORDS)
    return extended


def _validator_class(schema: Mapping[str, Any]) -> type[Validator]:
    """The validator of the schema's dialect (`$schema`; 2020-12 by default), on RE2."""
    if not isinstance(schema.get("$schema", ""), str):
        raise SchemaUnusable("$schema must be a string (the URI of a JSON Schema dialect)")
    cls: type[Validator] = jsonschema.validators.validator_for(schema, default=Draft202012Validator)
    return _with_re2(cls)


def _regex_problems(schema: Any, path: list[str]) -> Iterator[tuple[str, str]]:
    """Patterns RE2 cannot run, and `unevaluatedProperties` next to `patternProperties`
    (jsonschema would match those property names with Python's `re`)."""
    stack: list[tuple[Any, list[str]]] = [(schema, path)]
    pattern_props = unevaluated = False
    while stack:
        node, where = stack.pop()
        if isinstance(node, Mapping):
            patrn = node.get("pattern")
            if isinstance(patrn, str):
                try:
                    regex(patrn)
                except SchemaUnusable as e:
                    yield "/".join([*where, "pattern"]), str(e)
            props = node.get("patternProperties")
            if isinstance(props, Mapping):
                pattern_props = True
                for p in props:
                    try:
                        regex(str(p))
                    except SchemaUnusable as e:
                        yield "/".join([*where, "patternProperties"]), str(e)
            if "unevaluatedProperties" in node:
                unevaluated = True
            stack.extend((v, [*where, str(k)]) for k, v in node.items())
        elif isinstance(node, list):
            stack.extend((v, [*where, str(i)]) for i, v in enumerate(node))
    if pattern_props and unevaluated:
        yield "", "patternProperties together with unevaluatedProperties is not supported"


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
    regex_problems = list(_regex_problems(schema, []))
    if regex_problems:
        yield from regex_problems
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
    except SchemaUnusable:
        raise
    except Exception as e:  # noqa: BLE001 - user data: never a 500 or a failed workflow task
        raise SchemaUnusable(f"{type(e).__name__}: {e}") from None
    return sorted(found, key=lambda e: ([str(p) for p in e.absolute_path], e.message))
