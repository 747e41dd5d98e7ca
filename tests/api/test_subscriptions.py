"""Run event subscriptions end to end (SPEC §14): the API, the real dev server, a worker
and a local HTTP receiver. Every subscription here names a template, so the tests of
other modules never match them."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import httpx
import pytest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Worker

from tests.api.conftest import auth, save, simple_template, unique
from tests.api.subscription_support import (
    arrived,
    deliverer_done,
    event_types,
    fail_or_approve,
    signature_ok,
    start,
    subscribe,
    unsubscribe,
    worker_env,
)
from tests.helpers.http_receiver import HttpReceiver, Reply
from workflows.engine.deliveries import deliverer_id

ENVELOPE = {"id", "type", "at", "run_id", "template", "version", "data"}


@pytest.fixture(scope="module")
def subs_env() -> Iterator[None]:
    with worker_env():
        yield


@pytest.fixture
def rx() -> Iterator[HttpReceiver]:
    with HttpReceiver(Reply(200, {"ok": True})) as receiver:
        yield receiver


async def _until_waiting(api: httpx.AsyncClient, run_id: str) -> None:
    for _ in range(100):
        r = await api.get(f"/runs/{run_id}", headers=auth("eve"))
        if r.json().get("pending"):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"run {run_id} never waited for its approval")


async def _has_deliverer(client: Client, run_id: str) -> bool:
    try:
        await client.get_workflow_handle(deliverer_id(run_id)).describe()
    except RPCError as e:
        if e.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True


async def _result(client: Client, run_id: str) -> None:
    try:
        await client.get_workflow_handle(run_id).result()
    except Exception:  # a failing run: its failure is what the subscription watches
        pass


async def test_failed_and_approval_events_arrive_signed_within_5s(
    subs_env: None, worker: Worker, api: httpx.AsyncClient, client: Client, rx: HttpReceiver
) -> None:
    name = unique("subs-fa")
    doc = await save(api, fail_or_approve(name))
    url = rx.script("/events", Reply(200, {"ok": True}))
    sub = unique("fa")
    await subscribe(
        api,
        {
            "id": sub,
            "events": ["run.failed", "approval.opened"],
            "template": name,
            "target": {"url": url, "secret": "SUBS_KEY"},
        },
    )
    failing = await start(api, name, fail=True)
    await _result(client, failing)
    failed_at = time.monotonic()
    [got] = await arrived(rx, "/events", 1)
    assert got.at - failed_at < 5.0
    waiting = await start(api, name, fail=False)
    await _until_waiting(api, waiting)
    opened_at = time.monotonic()
    got_both = await arrived(rx, "/events", 2)
    assert len(got_both) == 2 and got_both[1].at - opened_at < 5.0
    r = await api.post(
        f"/runs/{waiting}/steps/approve/decision",
        json={"outcome": "approved"},
        headers=auth("alice"),
    )
    assert r.status_code == 200, r.text
    await client.get_workflow_handle(waiting).result()
    assert await deliverer_done(client, failing) and await deliverer_done(client, waiting)

    requests = rx.at("/events")
    bodies: list[dict[str, Any]] = [json.loads(q.body) for q in requests]
    assert [(b["type"], b["run_id"]) for b in bodies] == [
        ("run.failed", failing),
        ("approval.opened", waiting),
    ]
    for q, b in zip(requests, bodies, strict=True):
        assert signature_ok(q), q.headers
        assert q.header("X-Delivery-Id") == b["id"]
        assert q.header("Content-Type") == "application/json"
        assert ENVELOPE <= set(b) <= ENVELOPE | {"step", "actor"}
        assert (b["template"], b["version"]) == (name, doc["version"])
        datetime.fromisoformat(b["at"])
    assert bodies[0]["step"] == "broken" and bodies[0]["data"]["state"] == "failed"
    assert "budget exceeded" in bodies[0]["data"]["error"]
    assert bodies[1]["step"] == "approve"
    assert "role:manager" in bodies[1]["data"]["assignees"]

    log = (await api.get(f"/subscriptions/{sub}/deliveries", headers=auth("admin"))).json()
    assert sorted((d["type"], d["status"], d["attempts"]) for d in log) == [
        ("approval.opened", "delivered", 1),
        ("run.failed", "delivered", 1),
    ]
    await unsubscribe(api, sub)


async def test_a_failing_receiver_gets_the_same_delivery_id_until_it_answers(
    subs_env: None, worker: Worker, api: httpx.AsyncClient, client: Client, rx: HttpReceiver
) -> None:
    name = unique("subs-retry")
    await save(api, simple_template(name))
    url = rx.script("/flaky", Reply(500), Reply(500), Reply(500), Reply(200, {"ok": True}))
    sub = unique("retry")
    await subscribe(
        api, {"id": sub, "events": ["run.completed"], "template": name, "target": {"url": url}}
    )
    run_id = await start(api, name, who="x")
    await client.get_workflow_handle(run_id).result()
    got = await arrived(rx, "/flaky", 4, within=15)
    assert await deliverer_done(client, run_id)
    assert len(rx.at("/flaky")) == 4
    assert len({q.header("X-Delivery-Id") for q in got}) == 1
    assert json.loads(got[0].body)["type"] == "run.completed"
    log = (await api.get(f"/subscriptions/{sub}/deliveries", headers=auth("olga"))).json()
    assert [(d["status"], d["attempts"], d["event"]) for d in log] == [
        ("delivered", 4, got[0].header("X-Delivery-Id"))
    ]
    await unsubscribe(api, sub)


async def test_a_receiver_refusing_for_good_is_logged_failed(
    subs_env: None, worker: Worker, api: httpx.AsyncClient, client: Client, rx: HttpReceiver
) -> None:
    name = unique("subs-gone")
    await save(api, simple_template(name))
    url = rx.script("/gone", Reply(410, "gone"))
    sub = unique("gone")
    await subscribe(
        api, {"id": sub, "events": ["run.started"], "template": name, "target": {"url": url}}
    )
    run_id = await start(api, name, who="x")
    await client.get_workflow_handle(run_id).result()
    assert await deliverer_done(client, run_id)
    assert len(rx.at("/gone")) == 1  # a 4xx is not retried
    [entry] = (await api.get(f"/subscriptions/{sub}/deliveries", headers=auth("olga"))).json()
    assert (entry["status"], entry["attempts"]) == ("failed", 1)
    assert "410" in entry["last_error"]
    await unsubscribe(api, sub)


async def test_other_templates_and_earlier_runs_get_nothing_and_pay_nothing(
    subs_env: None, worker: Worker, api: httpx.AsyncClient, client: Client, rx: HttpReceiver
) -> None:
    watched, other = unique("subs-watched"), unique("subs-other")
    await save(api, fail_or_approve(watched))
    await save(api, simple_template(other))
    # the cost of a run of `other` with no subscription anywhere near it
    before = await start(api, other, who="a")
    await client.get_workflow_handle(before).result()
    baseline = await event_types(client, before)
    early = await start(api, watched, fail=False)  # started before the subscription
    await _until_waiting(api, early)

    url = rx.script("/watched", Reply(200, {"ok": True}))
    sub = unique("watched")
    tagged = unique("tagged")
    await subscribe(
        api,
        {
            "id": sub,
            "events": ["run.completed", "approval.decided", "run.started"],
            "template": watched,
            "target": {"url": url},
        },
    )
    await subscribe(  # every template, but only runs tagged team=other
        api,
        {"id": tagged, "events": ["run.completed"], "tags": {"team": "other"}, "target": {"url": url}},
    )
    r = await api.post(
        f"/runs/{early}/steps/approve/decision", json={"outcome": "approved"}, headers=auth("alice")
    )
    assert r.status_code == 200, r.text
    await client.get_workflow_handle(early).result()
    after = await start(api, other, who="b")
    await client.get_workflow_handle(after).result()
    assert await event_types(client, after) == baseline
    # both closed: whatever they had to hand over was handed over; there is no deliverer
    for run_id in (early, after):
        assert not await _has_deliverer(client, run_id)
    assert rx.at("/watched") == []

    # a watched run delivers (the subscription works), started after it
    late = await start(api, watched, fail=True)
    await _result(client, late)
    got = await arrived(rx, "/watched", 1)
    assert [json.loads(q.body)["run_id"] for q in got] == [late]
    assert json.loads(got[0].body)["type"] == "run.started"
    await unsubscribe(api, sub)
    await unsubscribe(api, tagged)


async def test_waiting_decided_and_cancelled_runs_deliver_in_order(
    subs_env: None, worker: Worker, api: httpx.AsyncClient, client: Client, rx: HttpReceiver
) -> None:
    name = unique("subs-order")
    await save(api, fail_or_approve(name))
    url = rx.script("/order", Reply(200, {"ok": True}))
    sub = unique("order")
    events = ["run.started", "run.waiting", "approval.decided", "run.completed", "run.cancelled"]
    await subscribe(api, {"id": sub, "events": events, "template": name, "target": {"url": url}})
    decided = await start(api, name, fail=False)
    await _until_waiting(api, decided)
    r = await api.post(
        f"/runs/{decided}/steps/approve/decision",
        json={"outcome": "approved"},
        headers=auth("alice"),
    )
    assert r.status_code == 200, r.text
    await client.get_workflow_handle(decided).result()
    cancelled = await start(api, name, fail=False)
    await _until_waiting(api, cancelled)
    r = await api.post(f"/runs/{cancelled}/cancel", headers=auth("eve"))
    assert r.status_code in (200, 202), r.text
    got = await arrived(rx, "/order", 7, within=10)
    by_run: dict[str, list[str]] = {}
    for q in got:
        b = json.loads(q.body)
        by_run.setdefault(b["run_id"], []).append(b["type"])
    assert by_run == {
        decided: ["run.started", "run.waiting", "approval.decided", "run.completed"],
        cancelled: ["run.started", "run.waiting", "run.cancelled"],
    }
    bodies = [json.loads(q.body) for q in got]
    decision = next(b for b in bodies if b["type"] == "approval.decided")
    assert decision["actor"] == "alice" and decision["data"]["outcome"] == "approved"
    await unsubscribe(api, sub)


async def test_a_redrive_keeps_what_its_run_pinned(
    subs_env: None, worker: Worker, api: httpx.AsyncClient, client: Client, rx: HttpReceiver
) -> None:
    """The redrive of a run started after the subscription delivers; the redrive of a run
    started before it does not (the subscription came later than the run)."""
    name = unique("subs-redrive")
    await save(api, fail_or_approve(name))
    before = await start(api, name, fail=True)
    await _result(client, before)
    url = rx.script("/redrive", Reply(200, {"ok": True}))
    sub = unique("redrive")
    await subscribe(
        api,
        {"id": sub, "events": ["run.started", "run.failed"], "template": name, "target": {"url": url}},
    )
    after = await start(api, name, fail=True)
    await _result(client, after)
    assert len(await arrived(rx, "/redrive", 2)) == 2
    for run_id in (before, after):
        r = await api.post(f"/runs/{run_id}/redrive", headers=auth("eve"))
        assert r.status_code == 202, r.text
        await _result(client, run_id)
    got = await arrived(rx, "/redrive", 4)
    assert await deliverer_done(client, after)
    assert not await _has_deliverer(client, before)
    bodies = [json.loads(q.body) for q in rx.at("/redrive")]
    assert [(b["run_id"], b["type"]) for b in bodies] == [
        (after, "run.started"),
        (after, "run.failed"),
        (after, "run.started"),
        (after, "run.failed"),
    ]
    assert len({q.header("X-Delivery-Id") for q in got}) == 4  # new events, new ids
    await unsubscribe(api, sub)
