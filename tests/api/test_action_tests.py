"""`GET /actions` and `POST /actions/{name}/test` (SPEC §13) with real local receivers.

The call runs once on the real worker (the `worker` fixture on the API's task queue),
through the production path: params model, `secret:` fields, connections, the egress
policy (the suite allows 127.0.0.1 only), error classification, no retries.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from temporalio.client import Client

from tests.api.conftest import auth, unique
from tests.helpers.http_receiver import HttpReceiver, Reply

pytestmark = pytest.mark.usefixtures("worker")


@pytest.fixture
def rx() -> Iterator[HttpReceiver]:
    with HttpReceiver(default=Reply(body={"pong": True})) as r:
        yield r


async def call(
    api: httpx.AsyncClient, name: str, body: dict[str, object], user: str = "dana"
) -> httpx.Response:
    return await api.post(f"/actions/{name}/test", json=body, headers=auth(user))


async def test_the_catalogue(api: httpx.AsyncClient) -> None:
    assert (await api.get("/actions")).status_code == 401
    r = await api.get("/actions", headers=auth("eve"))  # any authenticated user
    assert r.status_code == 200
    found = {a["name"]: a for a in r.json()}
    assert {"http", "email", "slack", "webhook", "log"} <= set(found)
    http = found["http"]
    assert http["takes_connection"] and http["secret_fields"] == []
    assert {"method", "url", "connection", "path", "headers", "json", "expect"} <= set(
        http["params"]["properties"]
    )
    assert found["slack"]["secret_fields"] == ["url"]
    assert found["webhook"]["secret_fields"] == ["secret"] and found["webhook"]["takes_connection"]
    assert found["log"]["params"]["required"] == ["message"]
    assert found["log"]["description"]


async def test_http_against_a_local_receiver_returns_its_response(
    api: httpx.AsyncClient, rx: HttpReceiver
) -> None:
    rx.script("/ping", Reply(201, {"pong": 1}, headers={"X-Reply": "yes"}))
    r = await call(api, "http", {"with": {"method": "POST", "url": f"{rx.url}/ping",
                                          "json": {"hello": "world"}}})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["ok"] is True and body["duration_ms"] >= 0
    assert body["output"]["status"] == 201 and body["output"]["body"] == {"pong": 1}
    assert body["output"]["headers"]["x-reply"] == "yes"
    assert "error" not in body
    [req] = rx.requests
    assert req.method == "POST" and req.json == {"hello": "world"}
    assert req.idempotency_key and req.idempotency_key.startswith("action-test-http-")


async def test_through_a_connection(api: httpx.AsyncClient, rx: HttpReceiver) -> None:
    name = unique("act")
    conn = {"name": name, "base_url": f"{rx.url}/api", "headers": {"X-Tenant": "acme"}}
    assert (await api.post("/connections", json=conn, headers=auth("admin"))).status_code == 201
    r = await call(api, "http", {"with": {"method": "GET", "path": "/orders/7"}, "connection": name})
    assert r.status_code == 200 and r.json()["ok"] is True, r.text
    [req] = rx.requests
    assert req.target == "/api/orders/7" and req.header("X-Tenant") == "acme"
    # the same through `with.connection`; an unknown connection is refused before calling
    r = await call(api, "http", {"with": {"method": "GET", "connection": name, "path": "/x"}})
    assert r.json()["ok"] is True and len(rx.requests) == 2
    r = await call(api, "http", {"with": {"method": "GET", "path": "/x"}, "connection": "nope-x"})
    assert r.status_code == 422 and "unknown connection 'nope-x'" in r.text
    r = await call(api, "http", {"with": {"method": "GET", "connection": name, "path": "/"},
                                 "connection": "other"})
    assert r.status_code == 422


async def test_errors_are_classified_and_never_retried(
    api: httpx.AsyncClient, rx: HttpReceiver
) -> None:
    rx.script("/busy", Reply(503, "try later"))
    r = await call(api, "http", {"with": {"method": "GET", "url": f"{rx.url}/busy"}})
    body = r.json()
    assert r.status_code == 200 and body["ok"] is False
    assert body["error_type"] == "HttpStatusError" and body["retryable"] is True
    assert "503 Service Unavailable" in body["error"] and "output" not in body
    rx.script("/gone", Reply(404, "no such thing"))
    body = (await call(api, "http", {"with": {"method": "GET", "url": f"{rx.url}/gone"}})).json()
    assert body["ok"] is False and body["retryable"] is False and "404" in body["error"]
    assert rx.hits["/busy"] == 1 and rx.hits["/gone"] == 1  # one attempt each


async def test_the_egress_policy_refuses_what_it_refuses_in_a_run(
    api: httpx.AsyncClient, rx: HttpReceiver
) -> None:
    """The suite allows 127.0.0.1 only: 127.0.0.2 (loopback too) is refused before any
    connection is made."""
    url = f"http://127.0.0.2:{rx.port}/ping"
    r = await call(api, "http", {"with": {"method": "GET", "url": url}})
    body = r.json()
    assert r.status_code == 200 and body["ok"] is False
    assert body["error"] == f"egress to 127.0.0.2:{rx.port} is not allowed (EGRESS_ALLOW)"
    assert body["error_type"] == "EgressRefused" and body["retryable"] is False
    assert rx.requests == []


async def test_secret_fields_are_resolved_on_the_worker_and_redacted(
    api: httpx.AsyncClient, rx: HttpReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    hook = f"{rx.url}/hooks/T000/B000/xyzsecret"
    monkeypatch.setenv("RELAYFLOW_SECRET_TT_SLACK_HOOK", hook)
    rx.script("/hooks/T000/B000/xyzsecret", Reply(body="ok"))
    r = await call(api, "slack", {"with": {"url": "secret:TT_SLACK_HOOK", "text": "hi"}})
    assert r.json() == {"ok": True, "output": {"status": 200, "body": "ok"},
                        "duration_ms": r.json()["duration_ms"]}
    assert rx.requests[0].json == {"text": "hi"}
    rx.script("/hooks/T000/B000/xyzsecret", Reply(404, "no_service"))
    body = (await call(api, "slack", {"with": {"url": "secret:TT_SLACK_HOOK", "text": "hi"}})).json()
    assert body["ok"] is False and "xyzsecret" not in body["error"] and "***" in body["error"]
    # an undefined secret fails like a step does; other environment variables stay unreadable
    body = (await call(api, "slack", {"with": {"url": "secret:HOME", "text": "hi"}})).json()
    assert body["ok"] is False and "secret 'HOME' is not defined" in body["error"]


async def test_what_a_save_refuses_a_test_refuses(api: httpx.AsyncClient) -> None:
    cases = [
        ("http", {"with": {"method": "GET", "url": "http://x.example", "colour": "red"}}, "with"),
        ("http", {"with": {"method": "GET", "url": "http://x.example",
                           "headers": {"Authorization": "secret:TOKEN"}}}, "with.headers"),
        ("http", {"with": {"method": "GET", "url": "http://x.example/${{ input.id }}"}}, "with"),
        ("log", {"with": {}}, "with"),
        ("http", {"with": {"method": "GET", "url": "ftp://x.example/"}}, "with.url"),
    ]
    for name, body, loc in cases:
        r = await call(api, name, body)
        assert r.status_code == 422, (body, r.text)
        assert r.json()["errors"][0]["loc"].startswith(loc), r.json()
    r = await call(api, "http", cases[1][1])
    assert "secrets can only be sent through a connection" in r.json()["detail"]
    assert (await call(api, "nope", {"with": {}})).status_code == 404
    assert (await call(api, "log", {"with": {"message": "x"}, "extra": 1})).status_code == 422


async def test_who_may_test_actions_and_no_run_is_listed(
    api: httpx.AsyncClient, client: Client
) -> None:
    body = {"with": {"message": "hello from a test"}}
    for user in ("eve", "olga"):
        assert (await call(api, "log", body, user)).status_code == 403
    assert (await api.post("/actions/log/test", json=body)).status_code == 401
    done = []
    for user in ("dana", "admin"):
        r = await call(api, "log", body, user)
        assert r.json()["ok"] is True and r.json()["output"] == {"logged": "hello from a test"}
        done.append(r)
    listed = (await api.get("/runs", headers=auth("admin"))).json()["runs"]
    assert not [r for r in listed if r["run_id"].startswith("action-test-")]
