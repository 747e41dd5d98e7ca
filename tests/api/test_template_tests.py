"""`POST /templates/{name}/test` (SPEC §13) on the dev server, SQLite and PostgreSQL.

The built-in purchase-order cases pass and touch nothing (the ERP receiver sees no
call); test runs are not runs (`GET /runs`, analytics); an unmocked action step is
refused before anything runs; `allow_real` calls exactly the steps it names, on the
real workers; time jumps when nobody decides. (Test runs against the real runs they
mirror: test_template_tests_mirror.py.)
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.client import Client

from api.analytics.ingest import Ingester
from api.analytics.store import Store
from api.db import make_engine, migrate
from api.testing.worker import task_queue_for_tests
from cli.template_cases import load
from settings import Settings
from tests.api.conftest import auth, eventually, save, unique
from tests.api.template_test_support import (
    ROOT,
    assert_replays,
    connection,
    run_test,
    save_po,
)
from tests.helpers.http_receiver import HttpReceiver, Reply
from workflows.engine import search_attributes as sa

pytestmark = pytest.mark.usefixtures("worker")


@pytest.fixture
def rx() -> Iterator[HttpReceiver]:
    with HttpReceiver(default=Reply(body={"ok": True})) as r:
        yield r

PO_CASES = ROOT / "templates" / "tests" / "purchase-order.yaml"


# -- the purchase-order cases: pass, touch nothing, are not runs -----------------------------


async def test_purchase_order_cases_pass_and_touch_nothing(
    api: httpx.AsyncClient, client: Client, settings: Settings, rx: HttpReceiver
) -> None:
    await connection(api, f"{rx.url}/erp", "erp")  # the ERP a real run would call
    name = await save_po(api)
    cases = load(PO_CASES).cases
    assert [c.name for c in cases] == [
        "small order", "large order, approved", "large order, rejected", "ERP down",
    ]
    from cli.template_cases import compare

    results = {}
    for case in cases:
        result = await run_test(api, name, case.body)
        assert compare(case.expect, result) == [], case.name
        results[case.name] = result
    assert rx.requests == []  # no action reached the ERP

    # the trace says what would have been sent, and what answered it
    trace = results["large order, approved"]["trace"]
    sent = next(t for t in trace if t["step"] == "place_order" and t["event"] == "mock.output")
    assert sent["detail"]["with"] == {
        "method": "POST", "connection": "erp", "path": "/orders",
        "json": {"amount": 5000, "cost_center": "CC-7", "po": "PO-2", "requester": "sam"},
    }
    events = [(t["step"], t["event"]) for t in trace]
    assert ("manager_approval", "decision.scripted") in events
    assert events[-1] == (None, "run.closed")

    # test runs ran on the test task queue, with none of a run's search attributes ...
    run_ids = [r["run_id"] for r in results.values()]
    for run_id in run_ids:
        desc = await client.get_workflow_handle(run_id).describe()
        assert desc.task_queue == task_queue_for_tests(settings)
        assert all(desc.typed_search_attributes.get(key) is None for key in sa.ALL)
    # ... so they are not runs: not listed (also not to an admin), whatever the filter
    for params in ({}, {"template": name}, {"started_by": "dana"}):
        listed = (await api.get("/runs", params=params, headers=auth("admin"))).json()
        assert not set(run_ids) & {r["run_id"] for r in listed["runs"]}
    assert (await api.get("/runs", params={"template": name}, headers=auth("admin"))).json()[
        "runs"
    ] == []


async def test_test_runs_are_not_in_analytics(
    api: httpx.AsyncClient, client: Client, tmp_path: Path
) -> None:
    name = unique("tt-stats")
    await save(api, {"name": name, "steps": [{"id": "hello", "action": "log",
                                              "with": {"message": "hi"}}]})
    tested = await run_test(api, name, {"mocks": {"hello": {"output": {"logged": "hi"}}}})
    assert tested["state"] == "completed"
    r = await api.post("/runs", json={"template": name}, headers=auth("dana"))
    real = r.json()["run_id"]

    async def closed() -> bool:
        doc = (await api.get(f"/runs/{real}", headers=auth("dana"))).json()
        return bool(doc["state"] == "completed")

    assert await eventually(closed, 20)
    url = f"sqlite:///{tmp_path / 'analytics.db'}"  # a store of its own
    await asyncio.to_thread(migrate, url)
    engine = make_engine(url)
    store = Store(engine)
    ingester = Ingester(client, store, interval=1, backfill=timedelta(hours=1))

    async def ingested() -> bool:
        await ingester.poll()
        return real in await store.known([real])

    try:
        assert await eventually(ingested, 20)  # the real run is ingested ...
        assert await store.known([real, tested["run_id"]]) == {real}  # ... the test run is not
    finally:
        await engine.dispose()


# -- refused before anything runs ----------------------------------------------------------


async def test_an_unmocked_action_step_is_refused_before_anything_runs(
    api: httpx.AsyncClient, client: Client, settings: Settings
) -> None:
    name = await save_po(api)
    body = {
        "input": {"amount": 50, "requester": "sam", "po": "PO-9", "cost_center": "CC-7"},
        "mocks": {"check_budget": {"output": {"status": 200, "body": {}}}},
    }
    r = await api.post(f"/templates/{name}/test", json=body, headers=auth("dana"))
    assert r.status_code == 422, r.text
    err = r.json()
    assert err["error"] == "invalid"
    assert "place_order" in err["detail"] and "no mock" in err["detail"]
    assert err["errors"][0]["loc"] == "mocks.place_order"
    await asyncio.sleep(1)  # visibility is eventually consistent: give a started run time to show
    query = f"TaskQueue = '{task_queue_for_tests(settings)}'"
    started = [wf.id async for wf in client.list_workflows(query)]
    assert not [i for i in started if name in i]

    # allow_real is the other way to answer it
    r = await api.post(
        f"/templates/{name}/test",
        json={**body, "mocks": {**body["mocks"]}, "allow_real": ["bogus"]},
        headers=auth("dana"),
    )
    assert r.status_code == 422
    assert {e["loc"] for e in r.json()["errors"]} == {"allow_real[0]", "mocks.place_order"}


@pytest.mark.parametrize(
    ("body", "loc", "words"),
    [
        ({"mocks": {"nope": {"output": 1}}}, "mocks.nope", "no step 'nope'"),
        ({"mocks": {"manager_approval": {"output": 1}}}, "mocks.manager_approval", "takes no mock"),
        ({"mocks": {"check_budget": {"output": 1, "error": "x"}}}, "mocks.check_budget", "a mock is"),
        ({"mocks": {"check_budget": []}}, "mocks.check_budget", "empty list"),
        ({"mocks": {"check_budget": {"output": 1, "retryable": False}}}, "mocks.check_budget",
         "describe an error mock"),
        ({"decisions": {"manager_approval": "maybe"}}, "decisions.manager_approval",
         "not an outcome"),
        ({"decisions": {"check_budget": "approved"}}, "decisions.check_budget", "takes no decision"),
        ({"decisions": {"manager_approval": [{"outcome": "approved", "votes": 2}]}},
         "decisions.manager_approval[0]", "a decision is"),
        ({"allow_real": ["manager_approval"]}, "allow_real[0]", "only action steps"),
        ({"allow_real": ["check_budget"]}, "allow_real[0]", "has a mock too"),
    ],
)
async def test_plans_that_do_not_fit_the_template_are_refused(
    api: httpx.AsyncClient, body: dict[str, Any], loc: str, words: str
) -> None:
    name = await save_po(api)
    mocks = {"check_budget": {"output": {}}, "place_order": {"output": {}}}
    rest = {k: v for k, v in body.items() if k != "mocks"}  # parameters are shared: no pop
    full = {"input": {"amount": 50, "requester": "sam", "po": "P", "cost_center": "C"},
            "mocks": {**mocks, **body.get("mocks", {})}, **rest}
    r = await api.post(f"/templates/{name}/test", json=full, headers=auth("dana"))
    assert r.status_code == 422, r.text
    found = {e["loc"]: e["msg"] for e in r.json()["errors"]}
    assert loc in found and words in found[loc], found


async def test_who_may_test_and_what(api: httpx.AsyncClient) -> None:
    name = await save_po(api)
    ok = {"output": {"status": 200, "body": {}}}
    body = {"input": {"amount": 50, "requester": "sam", "po": "P", "cost_center": "C"},
            "mocks": {"check_budget": ok, "place_order": ok}}
    for user in ("eve", "olga", "alice"):  # no role, operator, manager
        r = await api.post(f"/templates/{name}/test", json=body, headers=auth(user))
        assert r.status_code == 403, (user, r.text)
    assert (await api.post(f"/templates/{name}/test", json=body)).status_code == 401
    r = await api.post(f"/templates/{unique('nope')}/test", json=body, headers=auth("dana"))
    assert r.status_code == 404
    r = await api.post(f"/templates/{name}/test?version=7", json=body, headers=auth("dana"))
    assert r.status_code == 404
    r = await api.post(f"/templates/{name}/test", json={**body, "input": {"amount": "x"}},
                       headers=auth("dana"))
    assert r.status_code == 422 and r.json()["errors"][0]["loc"].startswith("input")
    r = await api.post(f"/templates/{name}/test", json={**body, "extra": 1}, headers=auth("dana"))
    assert r.status_code == 422
    assert (await run_test(api, name, body, user="admin"))["state"] == "completed"


# -- allow_real, timers, SLA levels, notifications -----------------------------------------


async def test_allow_real_calls_only_the_steps_it_names_on_the_real_workers(
    api: httpx.AsyncClient, rx: HttpReceiver
) -> None:
    rx.script("/erp/budget/CC-7", Reply(body={"remaining": 123}))
    await connection(api, f"{rx.url}/erp", "erp")
    name = await save_po(api)
    tested = await run_test(api, name, {
        "input": {"amount": 50, "requester": "sam", "po": "PO-R", "cost_center": "CC-7"},
        "mocks": {"place_order": {"output": {"status": 201, "body": {"order_id": "O-1"}}}},
        "allow_real": ["check_budget"],
    })
    assert tested["state"] == "completed", tested
    assert [r.target for r in rx.requests] == ["/erp/budget/CC-7"]  # GET, once; no order placed
    assert tested["steps"]["check_budget"]["output"]["body"] == {"remaining": 123}
    assert tested["steps"]["check_budget"]["attempts"] == 1  # reported by the real worker
    real = [t for t in tested["trace"] if t["event"] == "action.real"]
    assert [t["step"] for t in real] == ["check_budget"]


async def test_timers_sla_levels_and_notifications_are_skipped(
    api: httpx.AsyncClient, client: Client
) -> None:
    name = unique("tt-time")
    await save(api, {
        "name": name,
        "sla": [{"after": "1h", "level": "late",
                 "notify": {"action": "log", "with": {"message": "run late"}}}],
        "steps": [
            {"id": "nap", "wait": {"duration": "3d"}},
            {"id": "ok", "depends_on": ["nap"], "approval": {
                "assignees": {"users": ["alice", "bob"]}, "timeout": "1d", "on_timeout": "approved"},
             "sla": [{"after": "2h", "level": "nudge",
                      "notify": {"action": "email", "with": {"to": "${{ task.emails }}",
                                                            "subject": "waiting"}}},
                     {"after": "4h", "level": "boss", "reassign": {"users": ["admin"]}},
                     {"after": "2d", "level": "never"}]},
        ],
        "outputs": {"by": "${{ steps.ok.output.decided_by }}"},
    })
    tested = await run_test(api, name, {})  # nobody decides: time jumps
    assert tested["state"] == "completed" and tested["output"] == {"by": "timeout"}
    ok = tested["steps"]["ok"]
    assert ok["decision"] == "approved" and ok["sla_level"] == "boss"  # `never` is after the timeout
    assert ok["output"]["reassignments"][0]["users"] == ["admin"]
    nap = tested["steps"]["nap"]
    assert nap["state"] == "succeeded" and nap["output"]["until"] > nap["started_at"][:10]
    events = [(t["step"], t["event"]) for t in tested["trace"]]
    assert ("nap", "timer.skipped") in events
    suppressed = [t["detail"] for t in tested["trace"] if t["event"] == "notification.suppressed"]
    assert {"action": "email", "level": "nudge",
            "with": {"to": ["alice@example.com", "bob@example.com"], "subject": "waiting"}} in suppressed
    assert not any(t["event"] == "sla.fired" and t["step"] is None for t in tested["trace"])

    decided = await run_test(api, name, {"decisions": {"ok": "rejected"}})
    assert decided["steps"]["ok"]["sla_level"] is None  # decided at once: no level is reached
    assert decided["steps"]["ok"]["output"]["decisions"][0]["actor"] == "test"
    for run in (tested, decided):
        await assert_replays(client, run["run_id"])


async def test_subflow_steps_are_always_mocked(api: httpx.AsyncClient) -> None:
    child = unique("tt-child")
    await save(api, {"name": child, "steps": [{"id": "hi", "action": "log",
                                               "with": {"message": "hi"}}],
                     "outputs": {"said": "hi"}})
    name = unique("tt-parent")
    await save(api, {"name": name, "steps": [
        {"id": "sub", "subflow": {"template": child, "input": {"n": "${{ input.n }}"}}}],
        "outputs": {"child": "${{ steps.sub.output }}"}})
    r = await api.post(f"/templates/{name}/test", json={"input": {"n": 1}}, headers=auth("dana"))
    assert r.status_code == 422
    assert r.json()["errors"] == [{"loc": "mocks.sub", "msg": "subflow step 'sub' has no mock: "
                                   "subflow steps are always mocked"}]
    r = await api.post(f"/templates/{name}/test", json={"input": {"n": 1}, "allow_real": ["sub"]},
                       headers=auth("dana"))
    assert r.status_code == 422 and "only action steps" in r.text
    tested = await run_test(api, name, {"input": {"n": 1}, "mocks": {"sub": {"output": {"said": "yo"}}}})
    assert tested["state"] == "completed" and tested["output"] == {"child": {"said": "yo"}}
    [mocked] = [t for t in tested["trace"] if t["event"] == "mock.output"]
    assert mocked["detail"]["template"] == f"{child}@1" and mocked["detail"]["input"] == {"n": 1}
