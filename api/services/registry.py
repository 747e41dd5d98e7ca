"""The template registry: immutable, numbered versions of templates in the database."""

from __future__ import annotations

import asyncio
import functools
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import anyio.to_thread
from pydantic import ValidationError
from sqlalchemy import and_, func
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from api.errors import Conflict, ErrorItem, Invalid, NotFound, UnsupportedMediaType, loc_str
from api.models import TemplateVersion
from workflows._validate_limits import TemplateLimits
from workflows.loader import TemplateSyntaxError, load_document
from workflows.model import Template

JSON_TYPES = ("application/json",)
YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml")
SAVE_ATTEMPTS = 20


async def read_document(raw: bytes, content_type: str | None) -> dict[str, Any]:
    """`parse_document` off the event loop (parsing up to 1 MiB of YAML takes a while)."""
    return await anyio.to_thread.run_sync(parse_document, raw, content_type)


def parse_document(raw: bytes, content_type: str | None) -> dict[str, Any]:
    """A template document from a request body: JSON by default, YAML by content type."""
    media = (content_type or "application/json").split(";")[0].strip().lower()
    if media in JSON_TYPES or media.endswith("+json"):
        fmt = "json"
    elif media in YAML_TYPES:
        fmt = "yaml"
    else:
        raise UnsupportedMediaType(
            f"content type {media!r} is not supported: send application/json or application/yaml"
        )
    try:
        return load_document(raw, fmt=fmt)  # type: ignore[arg-type]
    except TemplateSyntaxError as e:
        raise Invalid(str(e), [ErrorItem(loc="body", msg=str(e))]) from None


def subflow_refs(doc: Any) -> Iterator[tuple[str, int | None]]:
    """`(template, version)` of every `subflow` step in a (possibly invalid) document."""
    steps = doc.get("steps") if isinstance(doc, dict) else None
    if not isinstance(steps, list):
        return
    for step in steps:
        if not isinstance(step, dict):
            continue
        sub = step.get("subflow")
        if isinstance(sub, dict) and isinstance(sub.get("template"), str):
            version = sub.get("version")
            yield (
                sub["template"],
                version if isinstance(version, int) and not isinstance(version, bool) else None,
            )
        for kind in ("foreach", "loop"):
            body = step.get(kind)
            if isinstance(body, dict):
                yield from subflow_refs(body)


@dataclass
class Closure:
    """Registry rows reached from a document through `subflow` steps (transitively)."""

    rows: dict[tuple[str, int | None], TemplateVersion] = field(default_factory=dict)
    _parsed: dict[tuple[str, int], Template] = field(default_factory=dict)

    def template(self, name: str, version: int | None) -> Template | None:
        row = self.rows.get((name, version))
        if row is None:
            return None
        key = (row.name, row.version)
        if key not in self._parsed:
            self._parsed[key] = Template.model_validate(row.body)
        return self._parsed[key]


async def load_closure(session: AsyncSession, doc: dict[str, Any], limit: int = 200) -> Closure:
    closure = Closure()
    todo = list(subflow_refs(doc))
    while todo and len(closure.rows) < limit:
        name, version = todo.pop()
        if (name, version) in closure.rows:
            continue
        row = await find(session, name, version)
        if row is None:
            continue
        closure.rows[(name, version)] = row
        todo.extend(subflow_refs(row.body))
    return closure


def findings_error(findings: Sequence[Any], what: str = "template") -> Invalid:
    items = [ErrorItem(loc=str(f.loc), msg=str(f.msg)) for f in findings]
    first = items[0]
    more = f" (and {len(items) - 1} more)" if len(items) > 1 else ""
    return Invalid(f"the {what} is invalid: {first.loc}: {first.msg}{more}", items)


async def validate(
    session: AsyncSession, doc: dict[str, Any], limits: TemplateLimits | None = None
) -> Template:
    """The parsed template, or `Invalid` with every finding (`limits`: the size caps)."""
    from workflows.validate import validate_template

    closure = await load_closure(session, doc)
    try:  # CPU-bound (a big template takes a while): keep the event loop free
        result = await anyio.to_thread.run_sync(
            functools.partial(
                validate_template, doc, resolve_template=closure.template, limits=limits
            )
        )
    except ValidationError as e:  # defensive: the validator reports, it should not raise
        items = [ErrorItem(loc=loc_str(x["loc"]), msg=x["msg"]) for x in e.errors()]
        raise Invalid("the template is invalid", items) from None
    if result.findings or result.template is None:
        raise findings_error(result.findings or [_Finding("$", "invalid template")])
    template: Template = result.template
    return template


@dataclass
class _Finding:
    loc: str
    msg: str


async def find(
    session: AsyncSession, name: str, version: int | None = None
) -> TemplateVersion | None:
    stmt = select(TemplateVersion).where(TemplateVersion.name == name)
    if version is not None:
        stmt = stmt.where(TemplateVersion.version == version)
    stmt = stmt.order_by(col(TemplateVersion.version).desc()).limit(1)
    return (await session.exec(stmt)).first()


async def get(session: AsyncSession, name: str, version: int | None = None) -> TemplateVersion:
    row = await find(session, name, version)
    if row is None:
        which = f"{name!r} version {version}" if version is not None else repr(name)
        raise NotFound(f"template {which} does not exist")
    return row


async def save(
    session: AsyncSession, doc: dict[str, Any], template: Template, user: str | None
) -> TemplateVersion:
    """Store `doc` as the next version of its template.

    Concurrent saves of one name race on the (name, version) unique key; the loser
    re-reads the latest version and tries again, so versions never repeat or skip.
    """
    for attempt in range(SAVE_ATTEMPTS):
        latest = (
            await session.exec(
                select(func.max(TemplateVersion.version)).where(
                    TemplateVersion.name == template.name
                )
            )
        ).one()
        row = TemplateVersion(
            name=template.name, version=(latest or 0) + 1, body=doc, created_by=user
        )
        session.add(row)
        try:
            await session.commit()
        except (IntegrityError, OperationalError) as e:
            await session.rollback()
            if isinstance(e, OperationalError) and "locked" not in str(e).lower():
                raise
            await asyncio.sleep(random.uniform(0, 0.02 * (attempt + 1)))
            continue
        await session.refresh(row)
        return row
    raise Conflict(f"could not save template {template.name!r}: too many concurrent saves, retry")


async def latest_versions(session: AsyncSession) -> Sequence[TemplateVersion]:
    newest = (
        select(TemplateVersion.name, func.max(TemplateVersion.version).label("v"))
        .group_by(TemplateVersion.name)
        .subquery()
    )
    stmt = (
        select(TemplateVersion)
        .join(
            newest,
            and_(
                col(TemplateVersion.name) == newest.c.name,
                col(TemplateVersion.version) == newest.c.v,
            ),
        )
        .order_by(TemplateVersion.name)
    )
    return (await session.exec(stmt)).all()


async def versions(session: AsyncSession, name: str) -> Sequence[TemplateVersion]:
    stmt = (
        select(TemplateVersion)
        .where(TemplateVersion.name == name)
        .order_by(col(TemplateVersion.version))
    )
    rows = (await session.exec(stmt)).all()
    if not rows:
        raise NotFound(f"template {name!r} does not exist")
    return rows
