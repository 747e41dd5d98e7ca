"""Best-effort task notifications (opened / reassigned / decided) through a real SMTP server."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import Message
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from temporalio.client import Client

from settings import get_settings
from tests.helpers.temporal import decoded
from tests.workflows.approval_support import (
    approval,
    approval_worker,
    decide,
    directory,  # noqa: F401 - fixture
    reassign,
    waiting,
)
from tests.workflows.interp_support import start

pytestmark = pytest.mark.usefixtures("directory")


class Inbox:
    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        msg = message_from_bytes(envelope.content, policy=policy.default)
        msg["X-Rcpt"] = ",".join(envelope.rcpt_tos)
        self.messages.append(msg)
        return "250 OK"


@pytest.fixture
def smtp(monkeypatch: pytest.MonkeyPatch, directory: Any) -> Iterator[Inbox]:  # noqa: F811
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    inbox = Inbox()
    ctl = Controller(inbox, hostname="127.0.0.1", port=port)
    ctl.start()
    monkeypatch.setenv("SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("SMTP_PORT", str(port))
    monkeypatch.setenv("API_PUBLIC_URL", "https://relay.example")
    get_settings.cache_clear()
    yield inbox
    ctl.stop()
    get_settings.cache_clear()


async def until(pred: Any, timeout: float = 10) -> None:
    for _ in range(int(timeout / 0.05)):
        if pred():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not met")


def text_of(msg: Message) -> str:
    part = msg.get_body(("plain",))  # type: ignore[attr-defined]
    assert part is not None
    return str(part.get_content())


def html_of(msg: Message) -> str:
    part = msg.get_body(("html",))  # type: ignore[attr-defined]
    assert part is not None
    return str(part.get_content())


async def test_opened_reassigned_decided_emails(
    client: Client, smtp: Inbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DECISION_LINK_SECRET", "notify-test-secret-0123456789")
    get_settings.cache_clear()
    d = {
        "steps": [
            approval("po", assignees={"roles": ["manager"]}, timeout="1d", on_timeout="rejected")
        ]
    }
    async with approval_worker(client) as w:
        h = await start(client, w, d)
        await waiting(h, "po")
        # one message per assignee, each with their own signed links (text and HTML)
        await until(lambda: len(smtp.messages) == 2)
        opened = sorted(smtp.messages, key=lambda m: str(m["X-Rcpt"]))
        assert [m["X-Rcpt"] for m in opened] == ["ann@example.com", "bob@example.com"]
        links: list[set[str]] = []
        for msg in opened:
            assert msg["Subject"].strip().startswith("[relayflow] Approval needed: po")
            body = text_of(msg)
            assert f"https://relay.example/runs/{h.id}" in body
            assert f"/namespaces/default/workflows/{h.id}" in body  # Temporal UI link
            assert f"https://relay.example/ui/tasks/{h.id}/po" in body
            assert "Due:" in body
            mine = {line.split(": ", 1)[1] for line in body.splitlines() if line.startswith("  ")}
            assert len(mine) == 2 and all(u.startswith("https://relay.example/d/") for u in mine)
            for url in mine:
                assert url.replace("&", "&amp;") in html_of(msg) or url in html_of(msg)
            links.append(mine)
        assert not links[0] & links[1]  # ann's links are not bob's
        assert len({m["Message-ID"] for m in opened}) == 2

        await reassign(h, "po", "ops", as_operator=True, users=["cat"])
        await until(lambda: len(smtp.messages) == 3)
        assert smtp.messages[2]["X-Rcpt"] == "cat@example.com"
        assert "reassigned to you" in text_of(smtp.messages[2])

        await decide(h, "po", "approved", "cat")
        await h.result()  # the run waits for the in-flight notification before closing
        assert len(smtp.messages) == 4
        decided = smtp.messages[3]
        assert decided["Subject"] == "[relayflow] Decided: po → approved"
        assert "By: cat" in text_of(decided)
    ids = {m["Message-ID"] for m in smtp.messages}
    assert len(ids) == 4


async def test_without_smtp_notifications_are_skipped(client: Client) -> None:
    d = {"steps": [approval("po", assignees={"users": ["ann"]})]}
    async with approval_worker(client) as w:
        h = await start(client, w, d)
        await waiting(h, "po")
        await decide(h, "po", "approved", "ann")
        await h.result()
    results = [
        (await decoded(client, e)).activity_task_completed_event_attributes.result.payloads[0].data
        async for e in h.fetch_history_events()
        if e.HasField("activity_task_completed_event_attributes")
    ]
    assert any(b"SMTP_HOST unset" in r for r in results)
