"""The `email` action against a real aiosmtpd server."""

from __future__ import annotations

import pytest
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment
from temporalio.worker import Worker

from activities.email import email, message_id
from settings import get_settings
from tests.activities.conftest import Mailbox, request, run


async def test_sends_text_and_html(mailbox: Mailbox) -> None:
    req = request(
        {
            "to": ["ann@example.test", "bob@example.test"],
            "cc": "carl@example.test",
            "subject": "PO 42 needs you",
            "body": "Please approve.",
            "html": "<p>Please <b>approve</b>.</p>",
        }
    )
    out = await ActivityEnvironment().run(email, req)
    assert out == {
        "message_id": message_id(req.idempotency_key),
        "to": ["ann@example.test", "bob@example.test"],
        "cc": ["carl@example.test"],
        "refused": [],
    }
    [(rcpts, msg)] = mailbox.messages
    assert rcpts == ["ann@example.test", "bob@example.test", "carl@example.test"]
    assert msg["From"] == "flows@example.test"
    assert msg["To"] == "ann@example.test, bob@example.test"
    assert msg["Cc"] == "carl@example.test"
    assert msg["Subject"] == "PO 42 needs you"
    assert msg["Message-ID"] == out["message_id"]
    assert msg["X-Relayflow-Run"] == req.run_id
    parts = {
        p.get_content_type(): p.get_payload(decode=True).decode()
        for p in msg.walk()
        if not p.is_multipart()
    }
    assert parts["text/plain"].strip() == "Please approve."
    assert "<b>approve</b>" in parts["text/html"]


async def test_retried_send_keeps_the_message_id(
    client: Client, action_worker: Worker, mailbox: Mailbox
) -> None:
    mailbox.fail_next = 1  # 451 on the first DATA: Temporal retries the activity
    out = await run(
        client, action_worker, "email", {"to": ["ann@example.test"], "subject": "s", "body": "b"}
    )
    first, second = (m for _, m in mailbox.messages)
    assert first["Message-ID"] == second["Message-ID"] == out["message_id"]
    assert out["message_id"].endswith("@relayflow>")


async def test_permanent_refusal_is_not_retried(
    client: Client, action_worker: Worker, mailbox: Mailbox
) -> None:
    mailbox.fail_next = 0

    async def reject(server, session, envelope, address, options):  # noqa: ANN001
        return "550 5.1.1 no such user"

    mailbox.handle_RCPT = reject  # type: ignore[attr-defined]
    try:
        with pytest.raises(WorkflowFailureError) as exc:
            await run(client, action_worker, "email", {"to": "nobody@example.test", "subject": "s"})
    finally:
        del mailbox.handle_RCPT  # type: ignore[attr-defined]
    err = exc.value.cause.cause  # type: ignore[union-attr]
    assert isinstance(err, ApplicationError) and err.non_retryable
    assert "550" in err.message and "nobody@example.test" in err.message
    assert mailbox.messages == []


async def test_without_smtp_host_fails_saying_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SMTP_HOST", raising=False)
    get_settings.cache_clear()
    try:
        with pytest.raises(ApplicationError) as err:
            await ActivityEnvironment().run(email, request({"to": ["a@b.c"], "subject": "s"}))
    finally:
        get_settings.cache_clear()
    assert err.value.non_retryable and err.value.type == "NotConfigured"
    assert "SMTP_HOST" in err.value.message


@pytest.mark.parametrize(
    "params", [{"to": [], "subject": "s"}, {"to": ["not-an-address"], "subject": "s"}]
)
async def test_bad_recipients(params: dict) -> None:
    with pytest.raises(ApplicationError) as err:
        await ActivityEnvironment().run(email, request(params))
    assert err.value.type == "InvalidParams"
