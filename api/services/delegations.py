"""Self-service out-of-office (SPEC §11): the caller's delegation in the registry DB.

The worker's `resolve_assignees` activity reads the same table (read-only, see
`activities.delegation`), so a delegation applies to tasks that open or are
reassigned after it is set; tasks already open stay where they are.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from activities.directory import Delegate, Directory, User
from api.errors import ErrorItem, Invalid
from api.models import Delegation
from api.schemas_people import DelegationIn, DelegationOut


def _out(user: User, d: Delegate | None, source: str | None) -> DelegationOut:
    if d is None:
        return DelegationOut(user=user.id)
    return DelegationOut(
        user=user.id,
        to=d.to,
        until=d.until,
        active=d.active(datetime.now(UTC)),
        source=source,  # type: ignore[arg-type]
    )


async def get(session: AsyncSession, user: User) -> DelegationOut:
    """The delegation in force for `user`: self-service first, else the directory's."""
    row = await session.get(Delegation, user.id)
    if row is not None:
        return _out(user, Delegate(to=row.to_user, until=row.until), "self")
    return _out(user, user.delegate, "directory" if user.delegate else None)


async def put(
    session: AsyncSession, directory: Directory, user: User, body: DelegationIn
) -> DelegationOut:
    delegate = Delegate(to=body.to, until=body.until)
    if delegate.to == user.id:
        raise Invalid("to: you cannot delegate to yourself", [ErrorItem(loc="body.to", msg="self")])
    if directory.user(delegate.to) is None:
        raise Invalid(
            f"to: {delegate.to!r} is not a user of the directory",
            [ErrorItem(loc="body.to", msg="unknown user")],
        )
    if delegate.until is not None and delegate.until <= datetime.now(UTC):
        raise Invalid(
            "until: must be in the future", [ErrorItem(loc="body.until", msg="in the past")]
        )
    row = await session.get(Delegation, user.id)
    if row is None:
        row = Delegation(user_id=user.id, to_user=delegate.to)
    row.to_user, row.until, row.updated_at = delegate.to, delegate.until, datetime.now(UTC)
    session.add(row)
    await session.commit()
    return _out(user, delegate, "self")


async def delete(session: AsyncSession, user: User) -> None:
    row = await session.get(Delegation, user.id)
    if row is not None:
        await session.delete(row)
        await session.commit()
