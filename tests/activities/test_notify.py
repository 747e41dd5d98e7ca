"""`slack`, `webhook` and `log` against a real local HTTP server."""

from __future__ import annotations

import hashlib
import hmac
import logging

import pytest
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment
from temporalio.worker import Worker

from activities.log import log
from activities.slack import slack
from activities.webhook import webhook
from tests.activities.conftest import request, run, unique_path
from tests.helpers.http_receiver import HttpReceiver, Reply


async def test_webhook_signature_verifies(
    client: Client, action_worker: Worker, receiver: HttpReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RELAYFLOW_SECRET_HOOK_KEY", "s3cr3t-hook-key")
    url = receiver.script(path := unique_path(), Reply(500, "later"), Reply(202, {"queued": True}))
    payload = {"order": 42, "items": ["a", "é"]}
    out = await run(
        client, action_worker, "webhook", {"url": url, "json": payload, "secret": "secret:HOOK_KEY"}
    )
    assert (out["status"], out["body"]) == (202, {"queued": True})
    first, second = receiver.at(path)
    for seen in (first, second):
        expected = hmac.new(b"s3cr3t-hook-key", seen.body, hashlib.sha256).hexdigest()
        assert seen.headers["X-Signature-256"] == f"sha256={expected}"
        assert seen.headers["Content-Type"] == "application/json"
        assert seen.json == payload
    # the same delivery on both attempts: receivers dedupe on either header
    assert first.body == second.body
    assert first.headers["Idempotency-Key"] == second.headers["Idempotency-Key"]
    assert first.headers["X-Delivery-Id"] == first.headers["Idempotency-Key"]
    assert "s3cr3t-hook-key" not in str(out)


async def test_webhook_without_secret_is_unsigned(receiver: HttpReceiver) -> None:
    url = receiver.script(path := unique_path(), Reply(200, "ok"))
    await ActivityEnvironment().run(webhook, request({"url": url, "json": [1, 2]}))
    [seen] = receiver.at(path)
    assert "X-Signature-256" not in seen.headers
    assert seen.body == b"[1,2]"


async def test_slack(receiver: HttpReceiver, monkeypatch: pytest.MonkeyPatch) -> None:
    url = receiver.script(path := unique_path(), Reply(200, "ok"))
    monkeypatch.setenv("RELAYFLOW_SECRET_SLACK_URL", url)
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*hi*"}}]
    out = await ActivityEnvironment().run(
        slack, request({"url": "secret:SLACK_URL", "text": "hi", "blocks": blocks})
    )
    assert out == {"status": 200, "body": "ok"}
    assert receiver.at(path)[0].json == {"text": "hi", "blocks": blocks}


async def test_slack_rejection_is_not_retried_and_hides_the_url(
    receiver: HttpReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = receiver.script(unique_path(), Reply(400, "invalid_payload"))
    monkeypatch.setenv("RELAYFLOW_SECRET_SLACK_URL", url)
    with pytest.raises(ApplicationError) as err:
        await ActivityEnvironment().run(slack, request({"url": "secret:SLACK_URL", "text": "x"}))
    assert err.value.non_retryable
    assert "400" in err.value.message and "invalid_payload" in err.value.message
    assert url not in err.value.message and "***" in err.value.message


async def test_slack_needs_text_or_blocks() -> None:
    with pytest.raises(ApplicationError, match="text"):
        await ActivityEnvironment().run(slack, request({"url": "https://hooks.example/x"}))


async def test_log(caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RELAYFLOW_SECRET_TOKEN", "tok-123")
    with caplog.at_level(logging.DEBUG):
        out = await ActivityEnvironment().run(
            log, request({"message": "hello", "level": "warning"})
        )
        out2 = await ActivityEnvironment().run(
            log, request({"message": {"b": 1, "a": "secret:TOKEN"}})
        )
    assert out == {"logged": "hello"}
    # `message` is not a secret field: `secret:TOKEN` stays text (and is refused at save)
    assert out2 == {"logged": '{"a": "secret:TOKEN", "b": 1}'}
    assert any(r.levelno == logging.WARNING and "hello" in r.getMessage() for r in caplog.records)
    assert "tok-123" not in caplog.text
