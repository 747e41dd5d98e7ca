"""Template owners (SPEC §8): who may publish new versions of a template.

A template's owners are its first saver plus whoever an admin sets with
`PUT /templates/{name}/owners` (which replaces the list). Only owners and admins save
new versions; a template without owners is admin-only. Templates saved by the loader
(`make run`, `python -m api.load_templates`) get no owner: the built-in library is
admin-owned until an admin hands a template over.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from activities.directory import Directory, User
from api.errors import ErrorItem, Forbidden, Invalid
from api.models import TemplateOwner, TemplateVersion
from api.services import registry
from workflows.language.model import Template

#: the identity `api.load_templates` saves as; it never becomes an owner
LOADER = "loader"


async def owners(session: AsyncSession, name: str) -> list[str]:
    """The owners of template `name`, sorted (empty: admins only)."""
    stmt = select(TemplateOwner.user_id).where(TemplateOwner.name == name)
    return sorted((await session.exec(stmt)).all())


async def owned_by(session: AsyncSession, user_id: str) -> list[str]:
    """Names of the templates `user_id` owns, sorted."""
    stmt = select(TemplateOwner.name).where(TemplateOwner.user_id == user_id)
    return sorted((await session.exec(stmt)).all())


async def owns(session: AsyncSession, user_id: str, name: str) -> bool:
    stmt = select(TemplateOwner.name).where(
        TemplateOwner.name == name, TemplateOwner.user_id == user_id
    )
    return (await session.exec(stmt)).first() is not None


async def require_publisher(session: AsyncSession, user: User, name: str) -> None:
    """403 unless `user` may save a new version of the existing template `name`."""
    if user.is_admin or await owns(session, user.id, name):
        return
    current = await owners(session, name)
    who = f"its owners ({', '.join(current)})" if current else "no owners (admins only)"
    raise Forbidden(
        f"user {user.id!r} may not save a new version of template {name!r}: it has {who}; "
        "only its owners and admins publish versions (an admin sets owners with "
        f"PUT /templates/{name}/owners)"
    )


async def publish(
    session: AsyncSession, doc: dict[str, Any], template: Template, user: User
) -> TemplateVersion:
    """Save the next version as `user`: a new name makes them its owner; an existing name
    needs them to be an owner or an admin (checked inside the save, so a concurrent first
    save of the same name by someone else cannot slip a version past the check)."""

    async def guard(s: AsyncSession, latest: int | None) -> list[Any]:
        if latest is not None:
            await require_publisher(s, user, template.name)
            return []
        return [TemplateOwner(name=template.name, user_id=user.id, added_by=user.id)]

    return await registry.save(session, doc, template, user.id, guard=guard)


async def set_owners(
    session: AsyncSession, name: str, users: Sequence[str], directory: Directory, actor: str
) -> list[str]:
    """Replace the owners of `name` (404 unknown template; 422 users not in the directory)."""
    await registry.get(session, name)  # NotFound for an unknown template
    wanted = sorted(set(users))
    unknown = [u for u in wanted if directory.user(u) is None]
    if unknown:
        raise Invalid(
            f"unknown users (not in the directory): {', '.join(unknown)}",
            [ErrorItem(loc="body.users", msg=f"unknown user {u!r}") for u in unknown],
        )
    await session.exec(delete(TemplateOwner).where(col(TemplateOwner.name) == name))  # type: ignore[call-overload]
    session.add_all(TemplateOwner(name=name, user_id=u, added_by=actor) for u in wanted)
    await session.commit()
    return wanted
