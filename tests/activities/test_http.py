"""The `http` action against a real local HTTP server, retried by a real Temporal worker."""

from __future__ import annotations

import pytest
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.testing import ActivityEnvironment
from temporalio.worker import Worker

from activities.http import MAX_BODY_BYTES, http
from tests.activities.conftest import request, run, unique_path
from tests.helpers.http_receiver import HttpReceiver, Reply


def app_error(exc: WorkflowFailureError) -> ApplicationError:
    assert isinstance(exc.cause, ActivityError)
    assert isinstance(exc.cause.cause, ApplicationError)
    return exc.cause.cause


async def test_request_shape(receiver: HttpReceiver) -> None:
    url = receiver.script(path := unique_path(), Reply(201, {"id": 7}, {"X-Thing": "a"}))
    req = request(
        {
            "method": "post",
            "url": url + "?a=1",
            "headers": {"X-Custom": "yes"},
            "params": {"b": 2},
            "json": {"hello": ["world"]},
        }
    )
    out = await ActivityEnvironment().run(http, req)
    assert out == {
        "status": 201,
        "headers": out["headers"],
        "body": {"id": 7},
        "truncated": False,
    }
    assert out["headers"]["x-thing"] == "a"
    [seen] = receiver.at(path)
    assert seen.method == "POST"
    assert seen.target == f"{path}?a=1&b=2"
    assert seen.headers["X-Custom"] == "yes"
    assert seen.headers["Content-Type"] == "application/json"
    assert seen.headers["Idempotency-Key"] == req.idempotency_key
    assert seen.json == {"hello": ["world"]}


async def test_text_body_and_expect(receiver: HttpReceiver) -> None:
    url = receiver.script(path := unique_path(), Reply(404, "nope"))
    out = await ActivityEnvironment().run(
        http, request({"method": "PUT", "url": url, "body": "raw text", "expect": [404, "2xx"]})
    )
    assert (out["status"], out["body"]) == (404, "nope")
    assert receiver.at(path)[0].body == b"raw text"
    # 200 is not in an explicit expect list without 2xx
    url = receiver.script(unique_path(), Reply(200, "fine"))
    with pytest.raises(ApplicationError) as err:
        await ActivityEnvironment().run(http, request({"url": url, "expect": [204]}))
    assert err.value.non_retryable  # a 2xx will not turn into the expected status by retrying
    assert "-> 200 OK: fine" in err.value.message


async def test_truncation(receiver: HttpReceiver) -> None:
    big = "x" * (MAX_BODY_BYTES + 10_000)
    url = receiver.script(unique_path(), Reply(200, big))
    out = await ActivityEnvironment().run(http, request({"url": url}))
    assert out["truncated"] is True
    assert len(out["body"]) == MAX_BODY_BYTES
    url = receiver.script(unique_path(), Reply(200, "y" * MAX_BODY_BYTES))
    out = await ActivityEnvironment().run(http, request({"url": url}))
    assert out["truncated"] is False


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"url": "http://x", "bogus": 1}, "bogus"),
        ({"method": "GET"}, "url"),
        ({"url": "ftp://x/y"}, "url"),
        ({"url": "http://x", "json": {}, "body": "b"}, "either `json` or `body`"),
        ({"url": "http://x", "timeout": "soon"}, "timeout"),
        ({"url": "http://x", "expect": ["2zz"]}, "expect: '2zz' is not"),
    ],
)
async def test_invalid_params_are_not_retried(params: dict, field: str) -> None:
    with pytest.raises(ApplicationError) as err:
        await ActivityEnvironment().run(http, request(params))
    assert err.value.non_retryable
    assert err.value.type == "InvalidParams"
    assert field in err.value.message


async def test_5xx_is_retried_with_the_same_idempotency_key(
    client: Client, action_worker: Worker, receiver: HttpReceiver
) -> None:
    url = receiver.script(
        path := unique_path(), Reply(503, "busy"), Reply(500, "oops"), Reply(200, {"ok": True})
    )
    out = await run(client, action_worker, "http", {"method": "POST", "url": url, "json": {"n": 1}})
    assert out["body"] == {"ok": True}
    seen = receiver.at(path)
    assert len(seen) == 3
    assert len({s.headers["Idempotency-Key"] for s in seen}) == 1
    assert {s.body for s in seen} == {b'{"n":1}'}


async def test_4xx_is_not_retried(
    client: Client, action_worker: Worker, receiver: HttpReceiver
) -> None:
    url = receiver.script(path := unique_path(), Reply(422, {"error": "bad amount"}))
    with pytest.raises(WorkflowFailureError) as exc:
        await run(client, action_worker, "http", {"method": "POST", "url": url, "json": {}})
    err = app_error(exc.value)
    assert err.non_retryable
    assert err.type == "HttpStatusError"
    assert "422" in err.message and "bad amount" in err.message
    assert len(receiver.at(path)) == 1


async def test_5xx_exhausts_attempts(
    client: Client, action_worker: Worker, receiver: HttpReceiver
) -> None:
    url = receiver.script(path := unique_path(), Reply(502, "gateway down"))
    with pytest.raises(WorkflowFailureError) as exc:
        await run(client, action_worker, "http", {"url": url}, max_attempts=2)
    err = app_error(exc.value)
    assert f"GET {url} -> 502 Bad Gateway: gateway down" == err.message
    assert len(receiver.at(path)) == 2


async def test_429_retry_after_is_honoured(
    client: Client, action_worker: Worker, receiver: HttpReceiver
) -> None:
    url = receiver.script(
        path := unique_path(), Reply(429, "slow down", {"Retry-After": "1"}), Reply(200, "ok")
    )
    out = await run(client, action_worker, "http", {"url": url}, initial_interval=0.01)
    assert out["body"] == "ok"
    first, second = receiver.at(path)
    assert second.at - first.at >= 0.9


async def test_timeout_is_retried(
    client: Client, action_worker: Worker, receiver: HttpReceiver
) -> None:
    url = receiver.script(
        path := unique_path(), Reply(200, "late", delay=1.0), Reply(200, "on time")
    )
    out = await run(client, action_worker, "http", {"url": url, "timeout": "200ms"})
    assert out["body"] == "on time"
    assert len(receiver.at(path)) == 2


async def test_connection_refused_is_retryable() -> None:
    with pytest.raises(ApplicationError) as err:
        await ActivityEnvironment().run(http, request({"url": "http://127.0.0.1:1/x"}))
    assert not err.value.non_retryable
    assert err.value.type == "TransportError"
