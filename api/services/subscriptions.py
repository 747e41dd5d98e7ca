"""Run event subscriptions in the registry database (SPEC §14): CRUD, checks, pinning.

A subscription is checked when it is saved: a `url` target must pass the egress
policy (SPEC §8; a name that does not resolve here is left to the workers, which
check every connection they open), a `connection` target must name an existing
connection, an action target's `with` must be valid for that action. Runs pin the
subscriptions matching their templates and tags when they start (`pin`); the
workers deliver and write the delivery log (`activities.subscriptions`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence
from typing import Any

from pydantic import ValidationError
from sqlalchemy import delete as sql_delete
from sqlalchemy import or_
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from activities import outbound
from activities.egress import EgressRefused, parse_ip, policy_from, url_host_port
from activities.registry import action_models
from api.connection_schemas import pinned
from api.errors import Conflict, ErrorItem, Invalid, NotFound, loc_str
from api.models import ConnectionRow, SubscriptionDelivery, SubscriptionRow
from api.subscription_schemas import SubscriptionIn, Target
from settings import Settings
from workflows.engine.io import PinnedSubscription
from workflows.language.trust import secret_fields

log = logging.getLogger("relayflow.subscriptions")
#: how long saving waits for a target host name to resolve (for the egress check)
RESOLVE_SECONDS = 2.0
#: the deliveries `GET /subscriptions/{id}/deliveries` shows
SHOWN = 100
#: placeholder for an action's text while checking its `with` (the worker writes it)
_FILLERS = {"slack": {"text": "-"}, "email": {"subject": "-"}}


def _invalid(loc: str, msg: str) -> Invalid:
    return Invalid(f"{loc}: {msg}", [ErrorItem(loc=loc, msg=msg)])


async def check_egress(settings: Settings, url: str) -> None:
    """Refuse a URL whose destination the egress policy refuses (422 on `target.url`)."""
    hp = url_host_port(url)
    if hp is None:
        raise _invalid("target.url", "must be an absolute http:// or https:// URL")
    host, port = hp
    policy = policy_from(settings)
    literal = parse_ip(host)
    if literal is not None:
        addresses = [str(literal)]
    else:
        try:
            addresses = await asyncio.wait_for(outbound.system_resolver(host, port), RESOLVE_SECONDS)
        except (OSError, TimeoutError):
            return  # not resolvable from here: the workers check when they connect
    try:
        for address in addresses:
            policy.check(host, port, address)
    except EgressRefused as e:
        raise _invalid("target.url", f"{e.message} — deliveries could never reach it") from None


def check_action(target: Target) -> None:
    """An action target's `with` must be valid for the action (secret fields may be `secret:NAME`)."""
    name = str(target.action)
    model = action_models().get(name)
    if model is None:
        raise _invalid("target.action", f"action {name!r} is not installed")
    secrets = secret_fields(model)
    params: dict[str, Any] = {**_FILLERS.get(name, {}), **(target.with_ or {})}
    for key, value in list(params.items()):
        if isinstance(value, str) and value.startswith("secret:"):
            if key not in secrets:
                raise _invalid(f"target.with.{key}", "secrets can only stand in secret fields")
            params[key] = "https://secret.invalid/" if name == "slack" else "secret"
    try:
        model.model_validate(params)
    except ValidationError as e:
        first = e.errors()[0]
        loc = loc_str(["target", "with", *first["loc"]]) if first["loc"] else "target.with"
        raise _invalid(loc, first["msg"]) from None


async def create(
    session: AsyncSession, settings: Settings, body: SubscriptionIn, user: str
) -> SubscriptionRow:
    target = body.target
    if target.url is not None:
        await check_egress(settings, target.url)
    elif target.connection is not None:
        if await session.get(ConnectionRow, target.connection) is None:
            raise _invalid(
                "target.connection",
                f"unknown connection '{target.connection}' (an admin defines it: POST /connections)",
            )
    else:
        check_action(target)
    if await session.get(SubscriptionRow, body.id) is not None:
        raise Conflict(f"subscription {body.id!r} already exists")
    row = SubscriptionRow(
        id=body.id,
        events=list(dict.fromkeys(body.events)),
        template=body.template,
        tags=dict(body.tags),
        target=target.stored(),
        created_by=user,
    )
    session.add(row)
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()
        raise Conflict(f"subscription {body.id!r} already exists") from None
    await session.refresh(row)
    return row


async def list_all(session: AsyncSession) -> Sequence[SubscriptionRow]:
    return (await session.exec(select(SubscriptionRow).order_by(col(SubscriptionRow.id)))).all()


async def get(session: AsyncSession, sub_id: str) -> SubscriptionRow:
    row = await session.get(SubscriptionRow, sub_id)
    if row is None:
        raise NotFound(f"subscription {sub_id!r} does not exist")
    return row


async def delete(session: AsyncSession, sub_id: str) -> None:
    """Delete a subscription and its log; runs that pinned it stop delivering to it."""
    row = await get(session, sub_id)
    await session.delete(row)
    await session.exec(
        sql_delete(SubscriptionDelivery).where(col(SubscriptionDelivery.subscription_id) == sub_id)
    )
    await session.commit()


async def deliveries(session: AsyncSession, sub_id: str) -> Sequence[SubscriptionDelivery]:
    """The newest `SHOWN` deliveries of a subscription, newest first."""
    await get(session, sub_id)
    query = (
        select(SubscriptionDelivery)
        .where(col(SubscriptionDelivery.subscription_id) == sub_id)
        .order_by(col(SubscriptionDelivery.created_at).desc())
        .limit(SHOWN)
    )
    return (await session.exec(query)).all()


async def pin(
    session: AsyncSession, templates: Iterable[str], tags: dict[str, str]
) -> list[PinnedSubscription]:
    """The subscriptions watching runs of `templates` (the run's and its subflows') with
    `tags`, as a run pins them at start (their connection's non-secret part included)."""
    names = set(templates)
    query = (
        select(SubscriptionRow)
        .where(or_(col(SubscriptionRow.template).is_(None), col(SubscriptionRow.template).in_(names)))
        .order_by(col(SubscriptionRow.id))
    )
    found: list[PinnedSubscription] = []
    for row in (await session.exec(query)).all():
        if row.template is not None and row.template not in names:
            continue
        if any(tags.get(k) != v for k, v in (row.tags or {}).items()):
            continue
        connection = None
        name = (row.target or {}).get("connection")
        if isinstance(name, str):
            conn = await session.get(ConnectionRow, name)
            connection = pinned(conn) if conn is not None else None
        found.append(
            PinnedSubscription(
                id=row.id,
                events=list(row.events),
                template=row.template,
                tags=dict(row.tags or {}),
                target=dict(row.target),
                connection=connection,
            )
        )
    return found
