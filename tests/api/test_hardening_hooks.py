"""Issue 20, webhooks: replays, timestamped signatures, run ids, one generic 401."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from temporalio.worker import Worker

from api.models import Delivery
from api.services import triggers
from tests.api.conftest import WEBHOOK_SECRET, auth, save, simple_template, unique
from tests.api.test_schedules_triggers import signed

SOURCE = "acme"


@pytest.fixture(scope="module")
async def rule(api: httpx.AsyncClient, worker: Worker) -> AsyncIterator[str]:
    name = unique("hooked")
    await save(api, simple_template(name))
    rule_id = unique("rule")
    body = {"id": rule_id, "source": SOURCE, "template": name, "input": {"who": "${{ body.who }}"}}
    assert (await api.post("/triggers", json=body, headers=auth("dana"))).status_code == 201
    yield rule_id
    await api.delete(f"/triggers/{rule_id}", headers=auth("dana"))


def payload() -> bytes:
    return json.dumps({"who": unique("w")}).encode()


def mine(r: httpx.Response, rule_id: str) -> list[str]:
    assert r.status_code == 202, r.text
    return [x for x in r.json()["runs"] if x.startswith(rule_id)]


def timestamped(raw: bytes, at: float, secret: str = WEBHOOK_SECRET) -> dict[str, str]:
    stamp = str(int(at))
    digest = hmac.new(secret.encode(), b"v0:" + stamp.encode() + b":" + raw, hashlib.sha256)
    return {
        "X-Signature-Timestamp": stamp,
        "X-Signature-256": "v0=" + digest.hexdigest(),
        "content-type": "application/json",
    }


async def test_replayed_body_with_new_delivery_id_starts_nothing(
    api: httpx.AsyncClient, rule: str
) -> None:
    raw = payload()
    first = await api.post(f"/hooks/{SOURCE}", content=raw, headers=signed(raw) | {"X-Delivery-Id": unique("d")})
    runs = mine(first, rule)
    assert len(runs) == 1
    replay = await api.post(f"/hooks/{SOURCE}", content=raw, headers=signed(raw) | {"X-Delivery-Id": unique("d")})
    assert replay.status_code == 202 and replay.json()["duplicate"] is True
    assert mine(replay, rule) == runs  # the first delivery's runs, nothing new


async def test_body_window_expires(app: FastAPI, api: httpx.AsyncClient, rule: str) -> None:
    raw = payload()
    assert mine(await api.post(f"/hooks/{SOURCE}", content=raw, headers=signed(raw)), rule)
    async with app.state.sessionmaker() as session:  # the first delivery is 25 hours old
        row = await session.get(Delivery, (SOURCE, triggers.body_key(raw)))
        assert row is not None
        row.created_at = datetime.now(UTC) - timedelta(hours=25)
        session.add(row)
        await session.commit()
    again = await api.post(f"/hooks/{SOURCE}", content=raw, headers=signed(raw) | {"X-Delivery-Id": unique("d")})
    assert again.json()["duplicate"] is False and mine(again, rule)


async def test_timestamped_signatures(api: httpx.AsyncClient, rule: str) -> None:
    raw = payload()
    now = time.time()
    ok = await api.post(f"/hooks/{SOURCE}", content=raw, headers=timestamped(raw, now) | {"X-Delivery-Id": unique("d")})
    assert len(mine(ok, rule)) == 1
    # a sender that repeats a payload on purpose signs it anew: it starts again
    again = await api.post(f"/hooks/{SOURCE}", content=raw, headers=timestamped(raw, now + 1) | {"X-Delivery-Id": unique("d")})
    assert again.json()["duplicate"] is False and mine(again, rule) != mine(ok, rule)
    # captured and replayed later than 5 minutes: refused
    stale = await api.post(f"/hooks/{SOURCE}", content=raw, headers=timestamped(raw, now - 600) | {"X-Delivery-Id": unique("d")})
    assert stale.status_code == 401
    # a timestamp changed without the signature: refused
    forged = timestamped(raw, now - 600) | {"X-Signature-Timestamp": str(int(now))}
    assert (await api.post(f"/hooks/{SOURCE}", content=raw, headers=forged)).status_code == 401


async def test_delivery_ids_that_differ_get_different_runs(api: httpx.AsyncClient, rule: str) -> None:
    base = unique("x")
    seen: list[str] = []
    for delivery in (f"{base}/b", f"{base}:b", f"{base}-b"):
        raw = payload()
        r = await api.post(f"/hooks/{SOURCE}", content=raw, headers=signed(raw) | {"X-Delivery-Id": delivery})
        assert r.json()["duplicate"] is False
        [run] = mine(r, rule)
        assert run == triggers.run_id_for(rule, delivery)
        seen.append(run)
    assert len(set(seen)) == 3


async def test_one_generic_401(api: httpx.AsyncClient) -> None:
    """Whether a source exists, or which check failed, is not told to the caller."""
    raw = payload()
    attempts: list[tuple[str, dict[str, str]]] = [
        ("nosuchsource", signed(raw)),
        (SOURCE, {"content-type": "application/json"}),
        (SOURCE, signed(raw, secret="wrong")),
        (SOURCE, timestamped(raw, time.time(), secret="wrong")),
        (SOURCE, {"X-Signature-256": "sha256=zz", "X-Signature-Timestamp": "yesterday"}),
    ]
    bodies: list[Any] = []
    for source, headers in attempts:
        r = await api.post(f"/hooks/{source}", content=raw, headers=headers)
        assert r.status_code == 401, r.text
        bodies.append(r.json())
    assert all(b == bodies[0] for b in bodies)
    assert bodies[0] == {"error": "unauthorized", "detail": triggers.UNAUTHORIZED}


async def test_listing_filters_refuse_a_trailing_newline(api: httpx.AsyncClient) -> None:
    """`$` let `abc\\n` through into the visibility query; `\\Z` does not."""
    r = await api.get("/runs", params={"template": "abc\n"}, headers=auth("eve"))
    assert r.status_code == 422, r.text
    assert r.json()["error"] == "invalid"
