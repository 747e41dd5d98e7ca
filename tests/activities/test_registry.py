"""The registry: secrets, validation, heartbeats/cancellation, discovery of actions."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import BaseModel, ConfigDict
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment
from temporalio.worker import Worker

from activities.errors import ActionError, is_retryable_status, parse_retry_after
from activities.http import http
from activities.registry import ActionContext, action, action_models, all_activities
from activities.secrets import secret_field
from tests.activities.conftest import request, run, start, unique_path
from tests.helpers.http_receiver import HttpReceiver, Reply


class SlowParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    seconds: float


cancelled = asyncio.Event()


@action("test-slow", SlowParams)
async def slow(params: SlowParams, ctx: ActionContext) -> dict:
    """Sleeps without heartbeating itself: the registry must heartbeat for it."""
    try:
        await asyncio.sleep(params.seconds)
    except asyncio.CancelledError:
        cancelled.set()
        raise
    return {"slept": params.seconds, "attempt": ctx.attempt}


class EchoParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    value: str = secret_field()
    fail: bool = False


@action("test-echo-sync", EchoParams)
def echo(params: EchoParams, ctx: ActionContext) -> EchoParams:
    """A sync action (runs in a thread) returning a model; may fail with the value in the text."""
    if params.fail:
        raise ActionError(f"refusing {params.value}", retryable=False)
    return params


def test_builtins_are_registered() -> None:
    models = action_models()
    assert {"http", "email", "slack", "webhook", "log"} <= set(models)
    assert set(models["http"].model_fields) == {
        "method",
        "url",
        "connection",
        "path",
        "headers",
        "params",
        "json",
        "body",
        "expect",
        "timeout",
    }
    names = {a.__temporal_activity_definition.name for a in all_activities()}
    assert set(models) <= names  # plus internal activities (assignees, task notices)


def test_action_rejects_bad_definitions() -> None:
    with pytest.raises(ValueError, match="already registered"):

        @action("http", SlowParams)
        async def other_http(params: SlowParams, ctx: ActionContext) -> dict:
            return {}

    with pytest.raises(ValueError, match="must match"):
        action("Bad Name", SlowParams)
    with pytest.raises(TypeError):
        action("ok", dict)  # type: ignore[arg-type]


async def test_secrets_are_resolved_in_declared_fields_and_redacted(
    receiver: HttpReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RELAYFLOW_SECRET_API_TOKEN", "tok-very-secret")
    url = receiver.script(path := unique_path(), Reply(200))  # echoes the request
    pinned = {"name": "api", "base_url": url, "auth": {"type": "bearer", "secret": "API_TOKEN"}}
    req = request({"connection": "api"})
    req.connection = pinned
    out = await ActivityEnvironment().run(http, req)
    assert receiver.at(path)[0].headers["Authorization"] == "Bearer tok-very-secret"
    assert out["body"]["headers"]["Authorization"] == "Bearer ***"
    assert "tok-very-secret" not in str(out)

    url = receiver.script(unique_path(), Reply(403))  # error text quotes the echo
    req = request({"connection": "api"})
    req.connection = {**pinned, "base_url": url}
    with pytest.raises(ApplicationError) as err:
        await ActivityEnvironment().run(http, req)
    assert "403" in err.value.message and "***" in err.value.message
    assert "tok-very-secret" not in str(err.value) + str(err.value.details)

    # a `secret:` outside a declared secret field is sent as the text it is
    url = receiver.script(path := unique_path(), Reply(200))
    await ActivityEnvironment().run(
        http, request({"url": url, "headers": {"Authorization": "secret:API_TOKEN"}})
    )
    assert receiver.at(path)[0].headers["Authorization"] == "secret:API_TOKEN"

    monkeypatch.setenv("RELAYFLOW_SECRET_ECHO_VALUE", "hush")
    with pytest.raises(ApplicationError) as err:
        await ActivityEnvironment().run(echo, request({"value": "secret:ECHO_VALUE", "fail": True}))
    assert err.value.message == "refusing ***"
    assert err.value.__cause__ is None


async def test_unknown_secret_is_not_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME_X", "not-a-secret")  # any other variable is not readable
    with pytest.raises(ApplicationError) as err:
        await ActivityEnvironment().run(echo, request({"value": "secret:HOME_X"}))
    assert err.value.non_retryable and err.value.type == "SecretNotFound"
    assert err.value.message == (
        "secret 'HOME_X' is not defined: set RELAYFLOW_SECRET_HOME_X or SECRETS_DIR/HOME_X "
        "on the workers"
    )


async def test_sync_action_returning_a_model() -> None:
    assert await ActivityEnvironment().run(echo, request({"value": "v"})) == {
        "value": "v",
        "fail": False,
    }


async def test_heartbeats_keep_a_long_action_alive(client: Client, action_worker: Worker) -> None:
    out = await run(
        client, action_worker, "test-slow", {"seconds": 1.5}, heartbeat_timeout=0.6, max_attempts=1
    )
    assert out == {"slept": 1.5, "attempt": 1}


async def test_cancellation_reaches_the_action(client: Client, action_worker: Worker) -> None:
    cancelled.clear()
    handle = await start(
        client, action_worker, "test-slow", {"seconds": 30}, heartbeat_timeout=1.0, timeout=60
    )
    await asyncio.sleep(0.5)
    await handle.cancel()
    await asyncio.wait_for(cancelled.wait(), timeout=3)
    with pytest.raises(WorkflowFailureError):
        await handle.result()


def test_retry_after() -> None:
    assert parse_retry_after("3").total_seconds() == 3
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT").total_seconds() == 0
    assert parse_retry_after("99999999").total_seconds() == 3600
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


@pytest.mark.parametrize(
    ("status", "retryable"),
    [(500, True), (503, True), (408, True), (429, True), (400, False), (404, False), (409, False)],
)
def test_status_classification(status: int, retryable: bool) -> None:
    assert is_retryable_status(status) is retryable
