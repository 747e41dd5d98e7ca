"""The built-in and custom actions driven by a real template through `TemplateWorkflow`."""

from __future__ import annotations

import uuid

import pytest
from temporalio.client import Client
from temporalio.worker import Worker

from activities.registry import all_activities
from tests.activities.conftest import Mailbox, unique_path
from tests.helpers.http_receiver import HttpReceiver, Reply
from tests.helpers.temporal import decoded

interpreter = pytest.importorskip("workflows.engine.workflow")

from tests.helpers.language import validate_template  # noqa: E402
from workflows.engine.attempts import AttemptInterceptor  # noqa: E402
from workflows.engine.io import RunInput  # noqa: E402
from workflows.language.compiler import compile_template  # noqa: E402


def template(path: str) -> dict:
    return {
        "name": "actions-e2e",
        "steps": [
            {
                "id": "fetch",
                "action": "http",
                "with": {
                    "method": "POST",
                    "connection": "e2e",
                    "path": path,
                    "json": {"po": "${{ input.po }}"},
                },
                "retry": {"max_attempts": 3, "initial_interval": "100ms"},
            },
            {
                "id": "hello",
                "depends_on": ["fetch"],
                "action": "greet",
                "with": {"name": "${{ steps.fetch.output.body.who }}"},
            },
            {
                "id": "mail",
                "depends_on": ["hello"],
                "action": "email",
                "with": {"to": "${{ input.to }}", "subject": "${{ steps.hello.output.message }}"},
            },
            {"id": "note", "depends_on": ["mail"], "action": "log", "with": {"message": "done"}},
        ],
        "outputs": {"greeting": "${{ steps.hello.output.message }}"},
    }


def test_unknown_with_fields_are_rejected_at_save() -> None:
    doc = template("/x")
    doc["steps"][0]["with"]["jsn"] = {}
    result = validate_template(doc)
    assert not result.ok
    assert any("jsn" in f.msg or "jsn" in f.loc for f in result.findings), result.findings


async def test_template_run(
    client: Client,
    receiver: HttpReceiver,
    mailbox: Mailbox,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pytest.importorskip("relayflow_greet")
    monkeypatch.setenv("RELAYFLOW_SECRET_E2E_TOKEN", "e2e-token-value")
    receiver.script(path := unique_path(), Reply(502, "down"), Reply(200, {"who": "Ada"}))
    doc = template(path)
    assert validate_template(doc, connection_exists={"e2e"}.__contains__).ok
    plan = compile_template(validate_template(doc).template, 1)  # type: ignore[arg-type]
    e2e = {
        "name": "e2e",
        "base_url": receiver.url,
        "auth": {"type": "bearer", "secret": "E2E_TOKEN"},
    }
    run_id = f"e2e-{uuid.uuid4().hex[:8]}"
    async with Worker(
        client,
        task_queue=f"tq-{uuid.uuid4()}",
        workflows=[interpreter.TemplateWorkflow],
        activities=all_activities(),
        interceptors=[AttemptInterceptor()],
    ) as w:
        handle = await client.start_workflow(
            interpreter.TemplateWorkflow.run,
            RunInput(
                plan=plan,
                input={"po": "PO-7", "to": ["ann@example.test"]},
                connections={"e2e": e2e},
            ),
            id=run_id,
            task_queue=w.task_queue,
        )
        result = await handle.result()
        status = await handle.query(interpreter.TemplateWorkflow.status)
        events = (await handle.fetch_history()).events
        # payloads as JSON (decrypted first when PAYLOAD_KEYS is set)
        history = b"".join([(await decoded(client, e)).SerializeToString() for e in events])
    assert result == {"greeting": "Hello, Ada!"}
    first, second = receiver.at(path)
    assert (
        first.headers["Idempotency-Key"] == second.headers["Idempotency-Key"] == f"{run_id}/fetch"
    )
    assert first.headers["Authorization"] == "Bearer e2e-token-value"
    assert first.json == {"po": "PO-7"}
    fetch = status.steps["fetch"]
    assert fetch.state == "succeeded" and fetch.attempts == 2
    assert "e2e-token-value" not in status.model_dump_json()
    assert b"e2e-token-value" not in history and b"E2E_TOKEN" in history
    [(_, msg)] = mailbox.messages
    assert msg["Subject"] == "Hello, Ada!"
    assert status.steps["note"].output == {"logged": "done"}
