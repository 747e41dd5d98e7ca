"""Webhook triggers: stored rules, signed deliveries, one run per matching rule (SPEC §5).

Signatures (HMAC-SHA256 with the source's secret from `WEBHOOK_SECRETS`):

- body only: `X-Signature-256` or `X-Hub-Signature-256` = `sha256=<hex HMAC of the body>`.
  Such a signature never expires, so a captured delivery could be sent again with a
  new delivery id: a body seen for the same source within `WEBHOOK_DEDUPE_SECONDS`
  (24 h) counts as a repeat of the first delivery (it starts nothing new);
- timestamped (Slack/Stripe style): `X-Signature-Timestamp: <unix seconds>` (or
  `X-Slack-Request-Timestamp`) and `X-Signature-256: v0=<hex HMAC of "v0:<timestamp>:<body>">`
  (or `X-Slack-Signature`); refused when the timestamp is more than
  `WEBHOOK_TIMESTAMP_TOLERANCE` (5 minutes) away from now.

Every refusal is the same 401 (which check failed, or whether the source exists, is
only logged). Run ids are `<trigger>-<digest of the raw delivery id>`, so distinct
ids such as `a/b` and `a:b` never share a run.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import Client

from api.errors import Conflict, ErrorItem, Invalid, NotFound, RelayflowError, Unauthorized
from api.models import Delivery, Trigger
from api.services import registry, run_checks, starting
from settings import Settings
from workflows.language import jsonsafe
from workflows.language.expressions import (
    TRIGGER_NAMES,
    ExpressionError,
    check,
    embedded,
    evaluate,
    render,
)

log = logging.getLogger("relayflow.api.hooks")

SIGNATURE_HEADERS = ("x-signature-256", "x-hub-signature-256", "x-slack-signature")
TIMESTAMP_HEADERS = ("x-signature-timestamp", "x-slack-request-timestamp")
DELIVERY_HEADERS = ("x-delivery-id", "x-github-delivery")
UNAUTHORIZED = "the webhook signature is missing or invalid"
#: the row that remembers a body (body-only signatures), next to the delivery-id rows
BODY_PREFIX = "body:sha256:"


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


def _refuse(source: str, why: str) -> Unauthorized:
    log.warning("webhook for source %r refused: %s", source, why)
    return Unauthorized(UNAUTHORIZED)


def _hmac(secret: str, data: bytes) -> str:
    return hmac.new(secret.encode(), data, hashlib.sha256).hexdigest()


def verify_signature(
    secret: str | None,
    raw: bytes,
    headers: Mapping[str, str],
    source: str,
    *,
    tolerance: int = 300,
    now: float | None = None,
) -> bool:
    """Check the delivery's signature (one generic 401 otherwise); True when timestamped."""
    given = next((headers[h] for h in SIGNATURE_HEADERS if h in headers), None)
    stamp = next((headers[h] for h in TIMESTAMP_HEADERS if h in headers), None)
    if not secret:
        raise _refuse(source, "no secret is configured for this source")
    if not given:
        raise _refuse(source, "no signature header")
    given = given.strip().lower()
    if stamp is None:
        expected = "sha256=" + _hmac(secret, raw)
        if not hmac.compare_digest(expected.encode(), given.encode()):
            raise _refuse(source, "the body signature does not match")
        return False
    stamp = stamp.strip()
    if not stamp.isdigit() or len(stamp) > 12:
        raise _refuse(source, "the timestamp is not unix seconds")
    expected = "v0=" + _hmac(secret, b"v0:" + stamp.encode() + b":" + raw)
    if not hmac.compare_digest(expected.encode(), given.encode()):
        raise _refuse(source, "the timestamped signature does not match")
    age = abs((time.time() if now is None else now) - int(stamp))
    if age > tolerance:
        raise _refuse(source, f"the timestamp is {age:.0f}s away from now (> {tolerance}s)")
    return True


def delivery_id(raw: bytes, headers: Mapping[str, str]) -> str:
    """The sender's delivery id; without one, a digest of the body (identical retries dedupe)."""
    given = next((headers[h].strip() for h in DELIVERY_HEADERS if headers.get(h, "").strip()), None)
    if given is None:
        return "sha256-" + hashlib.sha256(raw).hexdigest()[:32]
    return (
        given if len(given) <= 200 else "sha256-" + hashlib.sha256(given.encode()).hexdigest()[:32]
    )


def run_id_for(trigger_id: str, delivery: str) -> str:
    """`<trigger>-<digest>`: a digest of the raw delivery id, so distinct ids never collide."""
    return f"{trigger_id}-{hashlib.sha256(delivery.encode()).hexdigest()[:32]}"


def body_key(raw: bytes) -> str:
    return BODY_PREFIX + hashlib.sha256(raw).hexdigest()


async def _seen_body(
    session: AsyncSession, source: str, raw: bytes, window: int
) -> Delivery | None:
    """The delivery that carried this exact body within the dedupe window, if any."""
    row = await session.get(Delivery, (source, body_key(raw)))
    if row is None:
        return None
    created = row.created_at if row.created_at.tzinfo else row.created_at.replace(tzinfo=UTC)
    if datetime.now(UTC) - created <= timedelta(seconds=window):
        return row
    await session.delete(row)  # outside the window: this body may start runs again
    await session.commit()
    return None


async def _evaluate(rule: Trigger, scope: dict[str, Any], settings: Settings) -> Any:
    """The rule's input when its `when` holds (else None): in a thread, with a time limit."""

    def work() -> Any:
        if rule.when is not None and evaluate(rule.when, scope) is not True:
            return None
        return render(rule.input, scope)

    return await run_checks.in_thread(
        work,
        settings.check_timeout,
        f"evaluating trigger {rule.id!r}",
        "CHECK_TIMEOUT",
    )


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
    timestamped = verify_signature(
        settings.webhook_secrets.get(source),
        raw,
        headers,
        source,
        tolerance=settings.webhook_timestamp_tolerance,
    )
    delivery = delivery_id(raw, headers)
    seen = await session.get(Delivery, (source, delivery))
    if seen is None and not timestamped:
        seen = await _seen_body(session, source, raw, settings.webhook_dedupe_seconds)
    if seen is not None:
        return DeliveryResult(runs=list(seen.runs), duplicate=True)
    try:
        body: Any = jsonsafe.loads(raw) if raw.strip() else None
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise _invalid("body", f"the webhook body is not JSON: {e}") from None
    except jsonsafe.UnsafeJSON as e:
        raise _invalid("body" + e.where[1:], e.problem) from None
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
            data = await _evaluate(rule, scope, settings)
            if data is None:
                continue
            run = await starting.prepare(
                session,
                settings,
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
    if not timestamped:
        session.add(Delivery(source=source, delivery_id=body_key(raw), runs=result.runs))
    try:
        await session.commit()
    except IntegrityError:  # the same delivery raced us: answer with the first one's runs
        await session.rollback()
        first = await session.get(Delivery, (source, delivery))
        return DeliveryResult(runs=list(first.runs) if first else result.runs, duplicate=True)
    return result
