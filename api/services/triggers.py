"""Webhook triggers: stored rules, signed deliveries, one run per matching rule (SPEC §5)."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import Client

from api.errors import Conflict, ErrorItem, Invalid, NotFound, RelayflowError, Unauthorized
from api.models import Delivery, Trigger
from api.services import registry, starting
from settings import Settings
from workflows.language.expressions import (
    TRIGGER_NAMES,
    ExpressionError,
    check,
    embedded,
    evaluate,
    render,
)

SIGNATURE_HEADERS = ("x-signature-256", "x-hub-signature-256")
DELIVERY_HEADERS = ("x-delivery-id", "x-github-delivery")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def _invalid(loc: str, msg: str) -> Invalid:
    return Invalid(f"{loc}: {msg}", [ErrorItem(loc=loc, msg=msg)])


async def create(session: AsyncSession, rule: Trigger) -> Trigger:
    """Check the rule (expressions over `body` and `headers`, the template exists) and store it."""
    if rule.when is not None:
        try:
            check(rule.when, TRIGGER_NAMES)
        except ExpressionError as e:
            raise _invalid("body.when", str(e)) from None
    try:
        for source in embedded(rule.input):
            check(source, TRIGGER_NAMES)
    except ExpressionError as e:
        raise _invalid("body.input", str(e)) from None
    if await registry.find(session, rule.template, rule.version) is None:
        which = rule.template + (f" version {rule.version}" if rule.version else "")
        raise _invalid("body.template", f"template {which} does not exist")
    session.add(rule)
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()
        raise Conflict(
            f"trigger {rule.id!r} already exists; delete it first to change it"
        ) from None
    await session.refresh(rule)
    return rule


async def list_all(session: AsyncSession) -> Sequence[Trigger]:
    return (await session.exec(select(Trigger).order_by(col(Trigger.id)))).all()


async def delete(session: AsyncSession, trigger_id: str) -> None:
    row = await session.get(Trigger, trigger_id)
    if row is None:
        raise NotFound(f"trigger {trigger_id!r} does not exist")
    await session.delete(row)
    await session.commit()


def verify_signature(
    secret: str | None, raw: bytes, headers: Mapping[str, str], source: str
) -> None:
    given = next((headers[h] for h in SIGNATURE_HEADERS if h in headers), None)
    if not secret:
        raise Unauthorized(f"no webhook secret is configured for source {source!r}")
    if not given:
        raise Unauthorized("missing signature: send X-Signature-256: sha256=<hex HMAC of the body>")
    expected = "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected.encode(), given.strip().lower().encode()):
        raise Unauthorized("the signature does not match the body")


def delivery_id(raw: bytes, headers: Mapping[str, str]) -> str:
    """The sender's delivery id; without one, a digest of the body (identical retries dedupe)."""
    given = next((headers[h].strip() for h in DELIVERY_HEADERS if headers.get(h, "").strip()), None)
    if given is None:
        return "sha256-" + hashlib.sha256(raw).hexdigest()[:32]
    return (
        given if len(given) <= 200 else "sha256-" + hashlib.sha256(given.encode()).hexdigest()[:32]
    )


def run_id_for(trigger_id: str, delivery: str) -> str:
    return _UNSAFE.sub("-", f"{trigger_id}-{delivery}")[:200]


@dataclass
class DeliveryResult:
    runs: list[str]
    duplicate: bool = False
    skipped: list[ErrorItem] = field(default_factory=list)


async def deliver(
    session: AsyncSession,
    client: Client,
    settings: Settings,
    source: str,
    raw: bytes,
    headers: Mapping[str, str],
) -> DeliveryResult:
    """Start a run for every rule of `source` whose `when` holds; repeats start nothing new."""
    verify_signature(settings.webhook_secrets.get(source), raw, headers, source)
    delivery = delivery_id(raw, headers)
    seen = await session.get(Delivery, (source, delivery))
    if seen is not None:
        return DeliveryResult(runs=list(seen.runs), duplicate=True)
    try:
        body: Any = json.loads(raw) if raw.strip() else None
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise _invalid("body", f"the webhook body is not JSON: {e}") from None
    scope = {"body": body, "headers": dict(headers)}
    rules = (
        await session.exec(
            select(Trigger).where(Trigger.source == source).order_by(col(Trigger.id))
        )
    ).all()
    result = DeliveryResult(runs=[])
    for rule in rules:
        loc = f"triggers.{rule.id}"
        try:
            if rule.when is not None and evaluate(rule.when, scope) is not True:
                continue
            data = render(rule.input, scope)
            run = await starting.prepare(
                session,
                rule.template,
                rule.version,
                data,
                f"hook:{source}",
                {"trigger": rule.id, "source": source},
            )
            run_id = run_id_for(rule.id, delivery)
            await starting.start(client, settings, run, run_id)
        except ExpressionError as e:
            result.skipped.append(ErrorItem(loc=loc, msg=str(e)))
            continue
        except RelayflowError as e:
            result.skipped.append(ErrorItem(loc=loc, msg=e.detail))
            continue
        result.runs.append(run_id)
    session.add(Delivery(source=source, delivery_id=delivery, runs=result.runs))
    try:
        await session.commit()
    except IntegrityError:  # the same delivery raced us: answer with the first one's runs
        await session.rollback()
        first = await session.get(Delivery, (source, delivery))
        return DeliveryResult(runs=list(first.runs) if first else result.runs, duplicate=True)
    return result
