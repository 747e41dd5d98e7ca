"""Recovery through the API (SPEC §9) on SQLite and PostgreSQL, the dev server and real HTTP
receivers behind connections: redrive (same run id, only what did not succeed runs again,
onto a later version, foreach items), held steps resolved by operators, run deadlines."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ApplicationError

from tests.api.conftest import auth, eventually, save, unique
from tests.helpers.http_receiver import HttpReceiver, Reply, Request

pytestmark = pytest.mark.usefixtures("worker")

QUICK = {"max_attempts": 1}
OK = Reply(200, {"ok": True})
DOWN = Reply(500, "down")


@pytest.fixture
def rx() -> Iterator[HttpReceiver]:
    with HttpReceiver(default=OK) as r:
        yield r


async def connection(api: httpx.AsyncClient, rx: HttpReceiver) -> str:
    name = unique("svc")
    r = await api.post("/connections", json={"name": name, "base_url": rx.url}, headers=auth("admin"))
    assert r.status_code == 201, r.text
    return name


def call(id: str, conn: str, path: str, **extra: Any) -> dict[str, Any]:
    with_ = {"method": "POST", "connection": conn, "path": path, "json": extra.pop("json", {"step": id})}
    return {"id": id, "action": "http", "with": with_, "retry": QUICK, **extra}


def linear(name: str, conn: str, prefix: str, s3: str = "/s3") -> dict[str, Any]:
    return {
        "name": name,
        "steps": [
            call("s1", conn, f"{prefix}/s1"),
            call("s2", conn, f"{prefix}/s2", depends_on=["s1"]),
            call("s3", conn, f"{prefix}{s3}", depends_on=["s2"]),
            call("s4", conn, f"{prefix}/s4", depends_on=["s3"]),
        ],
        "outputs": {"last": "${{ steps.s4.output.status }}"},
    }


async def start(api: httpx.AsyncClient, template: str, user: str = "eve", **input: Any) -> str:
    r = await api.post("/runs", json={"template": template, "input": input}, headers=auth(user))
    assert r.status_code == 201, r.text
    run_id: str = r.json()["run_id"]
    return run_id


async def settled(api: httpx.AsyncClient, run_id: str, *states: str) -> dict[str, Any]:
    """The run's document once its state is one of `states` (default: closed)."""
    wanted = states or ("completed", "failed", "cancelled", "timed_out", "terminated")

    async def check() -> dict[str, Any] | None:
        doc: dict[str, Any] = (await api.get(f"/runs/{run_id}", headers=auth("admin"))).json()
        return doc if doc["state"] in wanted else None

    doc = await eventually(check, timeout=40)
    assert doc, f"run {run_id} never reached {wanted}"
    return doc


async def redrive(api: httpx.AsyncClient, run_id: str, user: str = "eve", **body: Any) -> httpx.Response:
    return await api.post(f"/runs/{run_id}/redrive", json=body or None, headers=auth(user))


def hits(rx: HttpReceiver, prefix: str) -> list[int]:
    return [len(rx.at(f"{prefix}/s{i}")) for i in range(1, 5)]


async def test_redrive_completes_without_calling_succeeded_steps_again(
    api: httpx.AsyncClient, rx: HttpReceiver
) -> None:
    conn, name, p = await connection(api, rx), unique("four"), f"/{unique('r')}"
    rx.script(f"{p}/s3", DOWN)
    await save(api, linear(name, conn, p))
    run_id = await start(api, name)
    doc = await settled(api, run_id)
    assert doc["state"] == "failed" and doc["redrive"] == 0
    assert doc["failed_step"] == "s3"
    assert doc["error"].startswith("step 's3' failed: POST ") and "500" in doc["error"]
    assert hits(rx, p) == [1, 1, 1, 0]

    assert (await redrive(api, run_id, "carl")).status_code == 404  # may not read the run
    r = await redrive(api, run_id, "dana")  # the template's owner reads it, may not redrive
    assert r.status_code == 403 and r.json()["error"] == "forbidden"

    rx.script(f"{p}/s3", OK)  # the service answers again
    r = await redrive(api, run_id)
    assert r.status_code == 202, r.text
    assert r.json() == {"run_id": run_id, "redrive": 1, "version": 1}
    doc = await settled(api, run_id)
    assert doc["state"] == "completed" and doc["redrive"] == 1, doc
    assert doc["run_id"] == run_id and doc["output"] == {"last": 200}
    assert hits(rx, p) == [1, 1, 2, 1]  # steps 1-2 not called again; 3 and 4 once
    assert [doc["steps"][f"s{i}"]["carried"] for i in range(1, 5)] == [True, True, False, False]
    assert doc["error"] is None and doc["failed_step"] is None

    r = await redrive(api, run_id)  # completed: nothing to redrive
    assert r.status_code == 409 and "completed" in r.json()["detail"]

    async def listed() -> list[dict[str, Any]] | None:
        runs = (await api.get("/runs", params={"template": name}, headers=auth("eve"))).json()["runs"]
        return runs if runs and runs[0]["state"] == "completed" else None

    runs = await eventually(listed)
    assert [x["run_id"] for x in runs] == [run_id]  # one run id, listed once

    audit = (await api.get(f"/runs/{run_id}/audit", headers=auth("eve"))).json()["events"]
    kinds = [e["kind"] for e in audit]
    assert kinds.count("run_closed") == 2 and kinds[-1] == "run_closed"
    redriven = [e for e in audit if e["kind"] == "redriven"]
    assert len(redriven) == 1 and redriven[0]["actor"] == "eve"
    assert redriven[0]["detail"] == {"redrive": 1, "version": 1}
    s3 = [e["kind"] for e in audit if e.get("step") == "s3"]
    assert s3 == ["step_started", "step_failed", "step_started", "step_succeeded"]
    assert [e["kind"] for e in audit if e.get("step") == "s1"] == ["step_started", "step_succeeded"]


async def test_a_second_redrive_after_a_second_failure(
    api: httpx.AsyncClient, rx: HttpReceiver, client: Client
) -> None:
    conn, name, p = await connection(api, rx), unique("twice"), f"/{unique('r')}"
    rx.script(f"{p}/s3", DOWN)
    rx.script(f"{p}/s4", DOWN)
    await save(api, linear(name, conn, p))
    run_id = await start(api, name)
    assert (await settled(api, run_id))["failed_step"] == "s3"
    rx.script(f"{p}/s3", OK)
    assert (await redrive(api, run_id, "olga")).json()["redrive"] == 1  # an operator may
    doc = await settled(api, run_id)
    assert doc["state"] == "failed" and doc["failed_step"] == "s4" and doc["redrive"] == 1
    rx.script(f"{p}/s4", OK)
    r = await redrive(api, run_id, "admin")
    assert r.status_code == 202 and r.json()["redrive"] == 2
    doc = await settled(api, run_id)
    assert doc["state"] == "completed" and doc["redrive"] == 2
    assert hits(rx, p) == [1, 1, 2, 2]
    desc = await client.get_workflow_handle(run_id).describe()
    assert (await desc.static_summary()) == f"{name}@1 · redrive 2"  # the Web UI's summary


async def test_redrive_of_an_open_run_is_409(api: httpx.AsyncClient, rx: HttpReceiver) -> None:
    name = unique("open")
    await save(api, {"name": name, "steps": [{"id": "w", "wait": {"duration": "1m"}}]})
    run_id = await start(api, name)
    r = await redrive(api, run_id)
    assert r.status_code == 409 and "still open" in r.json()["detail"]
    assert (await api.post(f"/runs/{run_id}/cancel", headers=auth("eve"))).status_code == 202
    assert (await settled(api, run_id))["state"] == "cancelled"
    r = await redrive(api, run_id)  # a cancelled run can be redriven
    assert r.status_code == 202 and r.json()["redrive"] == 1
    assert (await api.post(f"/runs/{run_id}/cancel", headers=auth("eve"))).status_code == 202


async def test_redrive_onto_a_later_version(api: httpx.AsyncClient, rx: HttpReceiver) -> None:
    conn, name, p = await connection(api, rx), unique("v2"), f"/{unique('r')}"
    rx.script(f"{p}/s3", DOWN)
    await save(api, linear(name, conn, p))
    run_id = await start(api, name)
    assert (await settled(api, run_id))["state"] == "failed"
    # version 2 changed step 3's `with:` (another path, which answers)
    assert (await save(api, linear(name, conn, p, s3="/s3-fixed")))["version"] == 2
    # version 3 dropped a step the redrive would carry
    v3 = linear(name, conn, p)
    del v3["steps"][1]
    v3["steps"][1]["depends_on"] = ["s1"]
    assert (await save(api, v3))["version"] == 3
    r = await redrive(api, run_id, version=3)
    assert r.status_code == 409 and "s2" in r.json()["detail"], r.text
    assert r.json()["errors"] == [{"loc": "steps.s2", "msg": "carried step missing or changed kind"}]
    assert (await redrive(api, run_id, version=9)).status_code == 404
    r = await redrive(api, run_id, version=2)
    assert r.status_code == 202 and r.json() == {"run_id": run_id, "redrive": 1, "version": 2}
    doc = await settled(api, run_id)
    assert doc["state"] == "completed" and doc["version"] == 2
    assert len(rx.at(f"{p}/s3-fixed")) == 1 and len(rx.at(f"{p}/s3")) == 1
    assert hits(rx, p) == [1, 1, 1, 1]
    # the next redrive may not go back to an older version (and this one completed anyway)
    assert (await redrive(api, run_id, version=1)).status_code == 409


async def test_redrive_of_a_foreach_reruns_exactly_the_failed_items(
    api: httpx.AsyncClient, rx: HttpReceiver
) -> None:
    conn, name, p = await connection(api, rx), unique("items"), f"/{unique('r')}"
    broken = {3, 7, 12}

    def answer(req: Request) -> Reply:
        return DOWN if req.json["i"] in broken else OK

    rx.script(f"{p}/item", answer)
    await save(api, {
        "name": name,
        "steps": [{"id": "fe", "foreach": {
            "items": "input.xs", "concurrency": 20,
            "steps": [call("post", conn, f"{p}/item", json={"i": "${{ item }}"})],
        }}],
    })
    run_id = await start(api, name, xs=list(range(20)))
    doc = await settled(api, run_id)
    assert doc["state"] == "failed" and doc["failed_step"] in {f"fe[{i}].post" for i in broken}
    first = [r.json["i"] for r in rx.at(f"{p}/item")]
    assert sorted(first) == list(range(20))
    broken.clear()
    assert (await redrive(api, run_id)).status_code == 202
    doc = await settled(api, run_id)
    assert doc["state"] == "completed"
    again = [r.json["i"] for r in rx.at(f"{p}/item")][20:]
    assert sorted(again) == [3, 7, 12]  # exactly the items that failed
    assert sum(doc["steps"][f"fe[{i}].post"]["carried"] for i in range(20)) == 17


def held_template(name: str, conn: str, p: str) -> dict[str, Any]:
    return {
        "name": name,
        "steps": [
            call("a", conn, f"{p}/flaky", on_failure="hold"),
            {"id": "approve", "approval": {"assignees": {"roles": ["manager"]}}},
            call("c", conn, f"{p}/c", depends_on=["a"],
                 json={"got": "${{ steps.a.output.body }}"}),
        ],
    }


async def test_held_step_is_listed_and_an_operator_retries_it_with_a_patched_path(
    api: httpx.AsyncClient, rx: HttpReceiver, client: Client
) -> None:
    conn, name, p = await connection(api, rx), unique("held"), f"/{unique('r')}"
    rx.script(f"{p}/flaky", DOWN)
    rx.script(f"{p}/fixed", Reply(200, {"v": "fixed"}))
    await save(api, held_template(name, conn, p))
    run_id = await start(api, name)
    doc = await settled(api, run_id, "held")
    a = doc["steps"]["a"]
    assert a["state"] == "held" and a["attempts"] == 1 and "500" in a["error"]
    assert doc["closed_at"] is None

    async def held_listed() -> bool:
        runs = (await api.get("/runs", params={"state": "held"}, headers=auth("olga"))).json()["runs"]
        return run_id in [x["run_id"] for x in runs]

    assert await eventually(held_listed)
    assert (await redrive(api, run_id)).status_code == 409  # open

    url = f"/runs/{run_id}/steps/a/resolve"
    body = {"action": "retry", "with": {"path": f"{p}/fixed"}, "comment": "moved"}
    assert (await api.post(url, json=body, headers=auth("carl"))).status_code == 404
    r = await api.post(url, json=body, headers=auth("eve"))  # the starter is no operator
    assert r.status_code == 403 and r.json()["error"] == "forbidden"
    r = await api.post(url, json={"action": "retry", "with": {"url": "http://x"}}, headers=auth("olga"))
    assert r.status_code == 422  # url and connection together
    r = await api.post(url, json={"action": "retry", "with": {"nope": 1}}, headers=auth("olga"))
    assert r.status_code == 422 and r.json()["errors"][0]["loc"] == "with.nope"
    r = await api.post(url, json={"action": "retry", "with": {"headers": {"A": "secret:X"}}},
                       headers=auth("olga"))
    assert r.status_code == 422 and "connection" in r.json()["errors"][0]["msg"]
    r = await api.post(f"/runs/{run_id}/steps/approve/resolve", json={"action": "skip"},
                       headers=auth("olga"))
    assert r.status_code == 409  # not held
    r = await api.post(url, json=body, headers=auth("olga"))
    assert r.status_code == 200, r.text
    assert r.json()["state"] in ("running", "succeeded")

    r = await api.post(f"/runs/{run_id}/steps/approve/decision", json={"outcome": "approved"},
                       headers=auth("alice"))
    assert r.status_code == 200, r.text
    doc = await settled(api, run_id)
    assert doc["state"] == "completed", doc
    assert doc["steps"]["a"]["output"]["body"] == {"v": "fixed"}
    assert rx.at(f"{p}/c")[0].json == {"got": {"v": "fixed"}}
    incident = doc["steps"]["a"]["incidents"][0]
    assert (incident["action"], incident["actor"], incident["comment"]) == ("retry", "olga", "moved")

    audit = (await api.get(f"/runs/{run_id}/audit", headers=auth("olga"))).json()["events"]
    by_kind = {e["kind"]: e for e in audit}
    assert by_kind["step_held"]["step"] == "a" and "500" in by_kind["step_held"]["detail"]["error"]
    assert by_kind["resolved"]["actor"] == "olga" and by_kind["resolved"]["detail"]["action"] == "retry"
    assert by_kind["decided"]["actor"] == "alice"
    # the history itself holds both updates with their actors
    updates = []
    async for e in client.get_workflow_handle(run_id).fetch_history_events():
        if e.HasField("workflow_execution_update_accepted_event_attributes"):
            req = e.workflow_execution_update_accepted_event_attributes.accepted_request
            payload = json.loads(req.input.args.payloads[0].data)
            updates.append((req.input.name, payload["actor"]))
    assert ("resolve", "olga") in updates and ("decide", "alice") in updates


async def test_skip_feeds_downstream_and_fail_fails(api: httpx.AsyncClient, rx: HttpReceiver) -> None:
    conn, name, p = await connection(api, rx), unique("skip"), f"/{unique('r')}"
    rx.script(f"{p}/flaky", DOWN)
    template = held_template(name, conn, p)
    del template["steps"][1]  # no approval
    template["on_failure"] = "hold"  # the template default holds `a` (and would hold `c`)
    del template["steps"][0]["on_failure"]
    await save(api, template)
    run_id = await start(api, name)
    await settled(api, run_id, "held")
    url = f"/runs/{run_id}/steps/a/resolve"
    r = await api.post(url, json={"action": "skip", "with": {"path": "/x"}}, headers=auth("olga"))
    assert r.status_code == 422  # `with` is for retry
    r = await api.post(url, json={"action": "skip", "output": {"body": {"n": 7}}}, headers=auth("admin"))
    assert r.status_code == 200 and r.json()["state"] == "skipped"
    doc = await settled(api, run_id)
    assert doc["state"] == "completed"
    assert rx.at(f"{p}/c")[0].json == {"got": {"n": 7}}  # skip counted as satisfied

    run_id = await start(api, name)
    await settled(api, run_id, "held")
    r = await api.post(f"/runs/{run_id}/steps/a/resolve", json={"action": "fail"}, headers=auth("olga"))
    assert r.status_code == 200 and r.json()["state"] == "failed"
    doc = await settled(api, run_id)
    assert doc["state"] == "failed" and doc["failed_step"] == "a"
    assert doc["steps"]["c"]["state"] == "skipped"


async def test_deadline_fails_the_run_after_its_cleanup(
    api: httpx.AsyncClient, rx: HttpReceiver, client: Client
) -> None:
    conn, name, p = await connection(api, rx), unique("late"), f"/{unique('r')}"
    await save(api, {
        "name": name,
        "deadline": "2s",
        "steps": [
            {"id": "w", "wait": {"duration": "1m"}},
            call("cleanup", conn, f"{p}/cleanup", depends_on=["w"], run_if="all_done"),
        ],
    })
    run_id = await start(api, name)
    doc = await settled(api, run_id)
    assert doc["state"] == "failed" and doc["error"] == "run deadline 2s exceeded"
    assert doc["steps"]["w"]["state"] == "cancelled"
    assert doc["steps"]["cleanup"]["state"] == "succeeded" and len(rx.at(f"{p}/cleanup")) == 1
    cleanup_done = doc["steps"]["cleanup"]["finished_at"]
    assert doc["closed_at"] >= cleanup_done
    with pytest.raises(WorkflowFailureError) as failed:
        await client.get_workflow_handle(run_id).result()
    cause = failed.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "DeadlineExceeded"


async def test_final_state_is_replayed_here_when_no_worker_answers(client: Client) -> None:
    """A redrive reads the previous execution's final status document; when no worker
    polls the run's task queue, the API replays the history itself (same document)."""
    from api.services.redrive import final_status
    from tests.workflows.interp_support import act, start
    from tests.workflows.interp_support import worker as test_worker

    doc = {"steps": [act("ok"), act("bad", "flaky", depends_on=["ok"], **{"with": {"fatal": True}})]}
    async with test_worker(client) as w:
        h = await start(client, w, doc)
        with pytest.raises(WorkflowFailureError):
            await h.result()
        answered = await final_status(client, h.id, await h.describe())
    # nobody polls the task queue now
    replayed = await final_status(client, h.id, await h.describe(), timedelta(seconds=1))
    assert replayed.failed_step == answered.failed_step == "bad"
    assert replayed.steps == answered.steps and replayed.steps["ok"].state == "succeeded"
