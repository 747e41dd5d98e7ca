"""Template tests behave as real runs do (SPEC §13): a foreach with a failing item, a
loop with two approval rounds and a gate that pauses run for real first (real worker,
real receiver, decisions and resume through the API); the test run, answered by mocks
taken from the real run and decided by the same script, gives the same status document.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from temporalio.client import Client

from tests.api.conftest import auth, save, unique
from tests.api.template_test_support import (
    assert_replays,
    assert_same,
    closed,
    connection,
    decide,
    doc_when,
    mocks_from,
    pending_at,
    real_run,
    run_test,
)
from tests.helpers.http_receiver import HttpReceiver, Reply, Request

pytestmark = pytest.mark.usefixtures("worker")


@pytest.fixture
def rx() -> Iterator[HttpReceiver]:
    with HttpReceiver(default=Reply(body={"ok": True})) as r:
        yield r


def item_server(req: Request) -> Reply:
    item = (req.json or {}).get("item")
    if item == "b":
        return Reply(422, {"error": f"cannot take {item}"})
    return Reply(200, {"took": item})


async def test_a_foreach_with_a_failing_item_as_in_a_real_run(api: httpx.AsyncClient) -> None:
    with HttpReceiver(default=item_server) as shop:
        conn = await connection(api, shop.url)
        name = unique("tt-foreach")
        await save(api, {
            "name": name,
            "steps": [
                {"id": "each", "foreach": {"items": "input.items", "concurrency": 1, "steps": [
                    {"id": "call", "action": "http",
                     "with": {"method": "POST", "connection": conn, "path": "/item",
                              "json": {"item": "${{ item }}"}},
                     "retry": {"max_attempts": 3, "initial_interval": "100ms"}}]}},
                {"id": "after", "depends_on": ["each"], "action": "log", "with": {"message": "done"}},
                {"id": "cleanup", "depends_on": ["each"], "run_if": "all_done", "action": "log",
                 "with": {"message": "cleanup after ${{ steps.each.state }}"}},
            ],
        })
        data = {"items": ["a", "b", "c"]}
        real = await doc_when(api, await real_run(api, name, data), closed)
        calls = len(shop.requests)
    assert real["state"] == "failed" and real["steps"]["each[1].call"]["attempts"] == 1
    assert "each[2].call" not in real["steps"]  # no new item after the failure

    tested = await run_test(api, name, {
        "input": data, "mocks": mocks_from(real, ["call", "after", "cleanup"])})
    assert_same(tested, real)
    assert calls == 2  # the real run's calls; the test made none


async def test_a_loop_with_two_approval_rounds_as_in_a_real_run(
    api: httpx.AsyncClient, client: Client, rx: HttpReceiver
) -> None:
    conn = await connection(api, rx.url)
    name = unique("tt-loop")
    await save(api, {
        "name": name,
        "steps": [
            {"id": "review", "loop": {
                "max_iterations": 4,
                "until": "steps.approve.decision == 'approved'",
                "steps": [
                    {"id": "draft", "action": "http",
                     "with": {"method": "POST", "connection": conn, "path": "/draft",
                              "json": {"round": "${{ iteration }}"}}},
                    {"id": "approve", "depends_on": ["draft"],
                     "approval": {"assignees": {"users": ["alice"]}}},
                ]}},
            {"id": "publish", "depends_on": ["review"], "action": "http",
             "with": {"method": "POST", "connection": conn, "path": "/publish"}},
        ],
        "outputs": {"last": "${{ steps.review.output.approve.decision }}"},
    })
    run_id = await real_run(api, name, {})
    await doc_when(api, run_id, pending_at("review[0].approve"))
    await decide(api, run_id, "review[0].approve", "rejected", "alice")
    await doc_when(api, run_id, pending_at("review[1].approve"))
    await decide(api, run_id, "review[1].approve", "approved", "alice")
    real = await doc_when(api, run_id, closed)
    assert real["state"] == "completed" and real["output"] == {"last": "approved"}
    calls = len(rx.requests)

    tested = await run_test(api, name, {
        "mocks": mocks_from(real, ["draft", "publish"]),
        "decisions": {"approve": [{"outcome": "rejected", "actor": "alice"},
                                  {"outcome": "approved", "actor": "alice"}]},
    })
    assert_same(tested, real)
    assert len(rx.requests) == calls == 3
    scripted = [t["step"] for t in tested["trace"] if t["event"] == "decision.scripted"]
    assert scripted == ["review[0].approve", "review[1].approve"]
    await assert_replays(client, tested["run_id"])


async def test_a_gate_that_pauses_as_in_a_real_run(
    api: httpx.AsyncClient, rx: HttpReceiver
) -> None:
    rx.script("/score", Reply(body={"score": 0.4}))
    conn = await connection(api, rx.url)
    name = unique("tt-gate")
    await save(api, {
        "name": name,
        "steps": [
            {"id": "score", "action": "http",
             "with": {"method": "GET", "connection": conn, "path": "/score"}},
            {"id": "quality", "depends_on": ["score"],
             "gate": {"check": "double(steps.score.output.body.score) >= 0.8", "on_fail": "pause"}},
            {"id": "publish", "depends_on": ["quality"], "action": "http",
             "with": {"method": "POST", "connection": conn, "path": "/publish"}},
        ],
        "outputs": {"gate": "${{ steps.quality.output }}"},
    })
    run_id = await real_run(api, name, {})
    paused = await doc_when(api, run_id, lambda d: d["state"] == "paused")
    assert paused["steps"]["quality"]["state"] == "waiting"
    r = await api.post(f"/runs/{run_id}/resume", headers=auth("dana"))
    assert r.status_code == 202
    real = await doc_when(api, run_id, closed)
    assert real["output"] == {"gate": {"passed": False, "resumed": True}}

    tested = await run_test(api, name, {
        "mocks": mocks_from(real, ["score", "publish"]), "decisions": {"quality": "resume"}})
    assert_same(tested, real)
    states = [t["detail"]["state"] for t in tested["trace"] if t["event"] == "run.state"]
    assert "paused" in states and states[-1] == "running"  # paused, then resumed
    assert any(t["event"] == "gate.resumed" and t["step"] == "quality" for t in tested["trace"])
