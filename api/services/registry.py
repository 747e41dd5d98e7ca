"""The template registry: immutable, numbered versions of templates in the database."""

from __future__ import annotations

import asyncio
import functools
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import anyio.from_thread
import anyio.to_thread
from pydantic import ValidationError
from sqlalchemy import and_, func
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from activities.registry import action_models
from api.errors import Conflict, ErrorItem, Invalid, NotFound, UnsupportedMediaType, loc_str
from api.models import TemplateVersion
from workflows.language.limits import TemplateLimits
from workflows.language.loader import TemplateSyntaxError, load_document
from workflows.language.model import Template
from workflows.language.validate import validate_template

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


#: parsed templates by (database, name, version): versions are immutable, so a stored
#: body is parsed once per process
_PARSED: dict[tuple[str, str, int], Template] = {}
_PARSED_MAX = 1024


def parsed(session: AsyncSession, row: TemplateVersion) -> Template:
    """The stored version as a `Template` (validated when it was saved; parsed once)."""
    key = (str(getattr(session.bind, "url", "")), row.name, row.version)
    template = _PARSED.get(key)
    if template is None:
        if len(_PARSED) >= _PARSED_MAX:
            _PARSED.pop(next(iter(_PARSED)))
        template = _PARSED[key] = Template.model_validate(row.body)
    return template


async def find_template(
    session: AsyncSession, name: str, version: int | None = None
) -> Template | None:
    row = await find(session, name, version)
    return None if row is None else parsed(session, row)


def findings_error(findings: Sequence[Any], what: str = "template") -> Invalid:
    items = [ErrorItem(loc=str(f.loc), msg=str(f.msg)) for f in findings]
    first = items[0]
    more = f" (and {len(items) - 1} more)" if len(items) > 1 else ""
    return Invalid(f"the {what} is invalid: {first.loc}: {first.msg}{more}", items)


async def validate(
    session: AsyncSession, doc: dict[str, Any], limits: TemplateLimits | None = None
) -> Template:
    """The parsed template, or `Invalid` with every finding (`limits`: the size caps)."""
    from api.services.connections import names as connection_names

    def resolve(name: str, version: int | None) -> Template | None:
        # called by the validator in its thread: look the template up on the event loop
        return anyio.from_thread.run(find_template, session, name, version)

    known = await connection_names(session)
    try:  # CPU-bound (a big template takes a while): keep the event loop free
        result = await anyio.to_thread.run_sync(
            functools.partial(
                validate_template,
                doc,
                actions=action_models(),
                resolve_template=resolve,
                connection_exists=known.__contains__,
                limits=limits,
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


#: called with the latest stored version (None: a new name) before each save attempt; may
#: raise (e.g. 403) or return more rows to commit with the version (e.g. its first owner)
SaveGuard = Callable[[AsyncSession, int | None], Awaitable[list[Any]]]


async def save(
    session: AsyncSession,
    doc: dict[str, Any],
    template: Template,
    user: str | None,
    *,
    guard: SaveGuard | None = None,
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
        extra = await guard(session, latest) if guard is not None else []
        row = TemplateVersion(
            name=template.name, version=(latest or 0) + 1, body=doc, created_by=user
        )
        session.add(row)
        session.add_all(extra)
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
