"""Event subscriptions (SPEC §14), on the worker's side: hand over, deliver, give up.

- `hand_over` (a local activity of the run): signal-with-start of the run's
  `SubscriptionDeliveries` workflow with a batch of events; the retry settings
  (`SUBSCRIPTION_RETRY_*`) travel in its start input.
- `deliver`: one event to one subscription's target, through the one egress-policed
  HTTP client (`activities.http.send`): `{url}` or `{connection, path}` get the JSON
  body POSTed with `X-Delivery-Id` (the event id, the same on every retry),
  `Idempotency-Key` (the same) and, when the target names a signing `secret`,
  `X-Signature-256: sha256=<hex HMAC-SHA256 of the body>` (as the `webhook` action);
  `{action: slack|email, with}` runs that action with a one-line summary of the event as
  its text (slack) or subject and body (email). Each attempt is written to the delivery
  log (`activities.subscription_log`); failures are classified like the `http` action
  (5xx, 408, 429, timeouts retried; other 4xx and egress refusals not).
- `give_up`: a delivery failed for good: mark it `failed` in the log.
"""

from __future__ import annotations

import json
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities import subscription_log
from activities.connections import resolve as resolve_connection
from activities.errors import InvalidParams, to_application_error
from activities.http import send
from activities.registry import get_action
from activities.secrets import read_secret
from activities.webhook import DELIVERY_HEADER, SIGNATURE_HEADER, sign
from settings import get_settings
from workflows.engine.deliveries import (
    DELIVER,
    GIVE_UP,
    HAND_OVER,
    SIGNAL,
    WORKFLOW_NAME,
    Batch,
    DeliveriesInput,
    GiveUpInput,
    HandOver,
    Outgoing,
    RetrySpec,
    deliverer_id,
)
from workflows.engine.io import ActionRequest


def retry_spec() -> RetrySpec:
    s = get_settings()
    return RetrySpec(
        initial=s.subscription_retry_initial,
        maximum=s.subscription_retry_max,
        total=s.subscription_retry_for,
        idle=s.subscription_idle,
    )


@activity.defn(name=HAND_OVER)
async def hand_over(inp: HandOver) -> None:
    """Signal (starting it if needed) the run's deliverer with the run's next events."""
    info = activity.info()
    await activity.client().start_workflow(
        WORKFLOW_NAME,
        DeliveriesInput(run_id=inp.run_id, retry=retry_spec()),
        id=deliverer_id(inp.run_id),
        task_queue=info.task_queue,
        start_signal=SIGNAL,
        start_signal_args=[Batch(items=inp.items)],
        static_summary=f"event deliveries of {inp.run_id}",
    )


def summary(event: dict[str, Any]) -> str:
    """One line about the event, for chat and email targets."""
    what = f"{event.get('type')}: run {event.get('run_id')} ({event.get('template')}@{event.get('version')})"
    if event.get("step"):
        what += f", step {event['step']}"
    data = event.get("data") or {}
    for key in ("outcome", "level", "error"):
        if data.get(key):
            what += f", {key}: {data[key]}"
    if event.get("actor"):
        what += f", by {event['actor']}"
    return what


async def _post(item: Outgoing) -> int:
    sub, event = item.subscription, item.event
    target = sub.target
    body = json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode()
    event_id = str(event["id"])
    headers = {"Content-Type": "application/json", DELIVERY_HEADER: event_id}
    if target.get("secret"):
        headers[SIGNATURE_HEADER] = sign(body, read_secret(str(target["secret"])))
    connection = None
    if target.get("connection"):
        if sub.connection is None:
            raise InvalidParams(f"connection {target['connection']!r} did not exist when the run started")
        connection = resolve_connection(sub.connection)
        url = connection.url_for(target.get("path"))
    else:
        url = str(target["url"])
    out = await send(
        "POST", url, idempotency_key=event_id, headers=headers, content=body, connection=connection
    )
    return out.status


async def _act(item: Outgoing) -> None:
    name = str(item.subscription.target["action"])
    spec = get_action(name)
    if spec is None:
        raise InvalidParams(f"action {name!r} is not installed on this worker")
    params = dict(item.subscription.target.get("with") or {})
    line = summary(item.event)
    if name == "slack":
        params["text"] = f"{params['text']}\n{line}" if params.get("text") else line
    elif name == "email":
        params.setdefault("subject", line)
        params["body"] = f"{params['body']}\n\n{line}" if params.get("body") else line
    req = ActionRequest(
        run_id=str(item.event.get("run_id")),
        step=f"subscription:{item.subscription.id}",
        idempotency_key=str(item.event["id"]),
        params=params,
    )
    await spec.activity(req)


@activity.defn(name=DELIVER)
async def deliver(item: Outgoing) -> str:
    """Deliver one event to one subscription; 'delivered', or 'skipped' (subscription deleted)."""
    sub, attempt = item.subscription.id, activity.info().attempt
    if not await subscription_log.exists(sub):
        return "skipped"
    try:
        if "action" in item.subscription.target:
            await _act(item)
        else:
            await _post(item)
    except Exception as exc:
        err = to_application_error(exc)
        status = "failed" if err.non_retryable else "retrying"
        await subscription_log.record(sub, item.event, status, attempt, err.message)
        if isinstance(exc, ApplicationError):
            raise
        raise err from None
    await subscription_log.record(sub, item.event, "delivered", attempt)
    return "delivered"


@activity.defn(name=GIVE_UP)
async def give_up(inp: GiveUpInput) -> None:
    """Mark a delivery failed for good (retries exhausted or not retryable)."""
    await subscription_log.record(inp.item.subscription.id, inp.item.event, "failed", None, inp.error)
