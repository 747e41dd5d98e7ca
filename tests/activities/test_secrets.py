"""Secrets (SPEC §8): where values come from, where `secret:` may stand, redaction."""

from __future__ import annotations

import base64
import json
import logging
import uuid
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest
from temporalio.client import Client, WorkflowFailureError
from temporalio.testing import ActivityEnvironment

from activities.http import http
from activities.registry import action_models
from activities.secrets import read_secret, redact, redaction_set
from settings import get_settings
from tests.activities.conftest import request, unique_path
from tests.helpers.http_receiver import HttpReceiver, Reply, Request
from tests.helpers.language import validate_template
from tests.helpers.temporal import new_worker
from workflows.engine.io import RunInput, RunStatus
from workflows.language.compiler import compile_template

#: characters that URL-encode, base64 to `+`/`/`, and JSON-escape (`"`, `\`)
SECRET = 'p@ss w/rd+&=?"\\%~-0123456789>>>???'



def test_values_come_from_the_prefix_or_secrets_dir_and_the_file_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RELAYFLOW_SECRET_ERP_TOKEN", "from-env")
    assert read_secret("ERP_TOKEN") == "from-env"
    (tmp_path / "ERP_TOKEN").write_text("from-file\n")  # Docker secrets end with a newline
    monkeypatch.setenv("SECRETS_DIR", str(tmp_path))
    get_settings.cache_clear()
    try:
        assert read_secret("ERP_TOKEN") == "from-file"
        (tmp_path / "ONLY_FILE").write_text("file-only")
        assert read_secret("ONLY_FILE") == "file-only"
    finally:
        monkeypatch.delenv("SECRETS_DIR")
        get_settings.cache_clear()


@pytest.mark.parametrize("name", ["HOME", "DATABASE_URL", "SMTP_PASSWORD", "PATH"])
def test_no_other_environment_variable_is_readable(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(name, "worker-private-value")
    from activities.errors import SecretNotFound

    with pytest.raises(SecretNotFound) as err:
        read_secret(name)
    assert err.value.message == (
        f"secret '{name}' is not defined: set RELAYFLOW_SECRET_{name} or SECRETS_DIR/{name} "
        "on the workers"
    )
    assert not err.value.retryable


def test_names_cannot_walk_out_of_secrets_dir() -> None:
    from activities.errors import SecretNotFound

    with pytest.raises(SecretNotFound):
        read_secret("../etc/passwd")


# -- save time --------------------------------------------------------------------------


def _findings(doc: dict) -> list[tuple[str, str]]:
    result = validate_template(doc, actions=action_models(), connection_exists={"erp"}.__contains__)
    return [(f.loc, f.msg) for f in result.findings]


NOT_HERE = "secrets can only be sent through a connection"


def test_secret_outside_a_declared_field_is_refused_at_save_with_its_loc() -> None:
    doc = {
        "name": "leaky",
        "input_schema": {"type": "object", "properties": {"k": {"default": "secret:X"}}},
        "sla": [{"after": "1h", "level": "late", "notify": {"action": "http", "with": {
            "url": "https://hooks.example.test/x", "json": {"t": "secret:X"}}}}],
        "steps": [
            {"id": "a", "action": "http", "with": {
                "url": "https://api.example.test/",
                "headers": {"Authorization": "secret:DATABASE_URL"},
                "params": {"key": "secret:API_KEY"},
                "json": {"nested": ["ok", {"deep": "Bearer secret:TOKEN"}]},
            }},
            {"id": "b", "action": "http", "with": {"url": "secret:ERP_URL"}},
            {"id": "c", "action": "http", "with": {"url": "https://x.test/", "body": "secret:B"}},
            {"id": "d", "action": "email", "with": {"to": "a@b.test", "subject": "secret:S"}},
            {"id": "e", "set": {"v": "${{ 'secret:HOME' }}"}},
            {"id": "f", "action": "log", "when": "input.k != 'secret:Y'",
             "with": {"message": "secret:Z"}},
            {"id": "g", "foreach": {"items": "[1]", "steps": [
                {"id": "h", "action": "webhook", "with": {
                    "url": "https://x.test/", "headers": {"X-Key": "secret:K"}}}]}},
            {"id": "s", "subflow": {"template": "leaky", "input": {"t": "secret:T"}}},
        ],
        "outputs": {"o": "secret:O"},
    }
    found = [loc for loc, msg in _findings(doc) if msg == NOT_HERE]
    assert found == [
        "input_schema.properties.k.default",
        "outputs.o",
        "sla[0].notify.with.json.t",
        "steps[0].with.headers.Authorization",
        "steps[0].with.json.nested[1].deep",
        "steps[0].with.params.key",
        "steps[1].with.url",
        "steps[2].with.body",
        "steps[3].with.subject",
        "steps[4].set.v",
        "steps[5].when",
        "steps[5].with.message",
        "steps[6].foreach.steps[0].with.headers['X-Key']",
        "steps[7].subflow.input.t",
    ]


def test_declared_secret_fields_accept_secrets_and_plain_values() -> None:
    doc = {
        "name": "fine",
        "steps": [
            {"id": "a", "action": "webhook", "with": {"connection": "erp", "path": "/h",
                                                      "secret": "secret:HOOK_KEY"}},
            {"id": "b", "action": "slack", "with": {"url": "secret:SLACK_URL", "text": "hi"}},
            {"id": "c", "action": "slack", "with": {"url": "https://hooks.example.test/x",
                                                     "text": "a plain URL works too"}},
            {"id": "d", "action": "webhook", "with": {"url": "https://x.test/",
                                                      "secret": "prefix secret:KEY"}},
        ],
    }
    assert _findings(doc) == [
        ("steps[3].with.secret", "write a secret as the whole value: `secret:NAME`")
    ]


def test_custom_actions_declare_secret_fields_as_data() -> None:
    from pydantic import BaseModel, ConfigDict, Field

    from activities.secrets import Secret, secret_field
    from workflows.language.trust import secret_fields

    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid", populate_by_name=True)
        token: Secret
        key: str | None = secret_field(None, alias="api-key")
        note: str = Field("", json_schema_extra={"title": "not secret"})

    assert secret_fields(Params) == {"token", "api-key"}
    props = Params.model_json_schema()["properties"]
    assert props["token"]["x-relayflow-secret"] is True  # visible to API clients too
    assert "x-relayflow-secret" not in props["note"]
    doc = {"name": "c", "steps": [{"id": "a", "action": "custom", "with": {
        "token": "secret:T", "api-key": "secret:K", "note": "secret:N"}}]}
    result = validate_template(doc, actions={"custom": Params})
    assert [(f.loc, f.msg) for f in result.findings] == [("steps[0].with.note", NOT_HERE)]


def test_connection_rules_at_save() -> None:
    doc = {
        "name": "conns",
        "steps": [
            {"id": "a", "action": "http", "with": {"connection": "nope", "path": "/x"}},
            {"id": "b", "action": "http", "with": {"connection": "${{ input.c }}"}},
            {"id": "c", "action": "http", "with": {"connection": "erp", "url": "https://x.test/"}},
            {"id": "d", "action": "http", "with": {"method": "GET"}},
            {"id": "e", "action": "webhook", "with": {"url": "https://x.test/", "path": "/p"}},
            {"id": "f", "action": "http", "with": {"connection": "erp", "path": "/ok"}},
        ],
    }
    assert _findings(doc) == [
        ("steps[0].with.connection",
         "unknown connection 'nope' (connections are defined by an admin: POST /connections)"),
        ("steps[1].with.connection", "connection must be a literal connection name (no expressions)"),
        ("steps[2].with", "give either `url` or `connection` (+ `path`), not both"),
        ("steps[3].with", "give `url` or `connection` (+ `path`)"),
        ("steps[4].with", "`path` needs `connection` (with `url`, put the path in the URL)"),
    ]


# -- run time ---------------------------------------------------------------------------


async def test_webhook_secret_home_fails_the_step_and_sends_nothing(
    client: Client, receiver: HttpReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", "/root")
    doc = {
        "name": "steal-home",
        "steps": [{"id": "hook", "action": "webhook", "with": {
            "url": receiver.script(path := unique_path(), Reply(200)),
            "json": {"x": 1},
            "secret": "secret:HOME",
        }, "retry": {"max_attempts": 5, "initial_interval": "100ms"}}],
    }
    result = validate_template(doc, actions=action_models())
    assert result.ok and result.template is not None  # a legal place for a secret
    async with new_worker(client) as w:
        handle = await client.start_workflow(
            "TemplateWorkflow",
            RunInput(plan=compile_template(result.template, 1), input={}),
            id=f"home-{uuid.uuid4().hex[:8]}",
            task_queue=w.task_queue,
        )
        with pytest.raises(WorkflowFailureError):
            await handle.result()
        st = await handle.query("status", result_type=RunStatus)
    hook = st.steps["hook"]
    assert hook.state == "failed" and hook.attempts == 1  # not retried
    assert hook.error == (
        "secret 'HOME' is not defined: set RELAYFLOW_SECRET_HOME or SECRETS_DIR/HOME on the workers"
    )
    assert receiver.at(path) == []


def _echo_encoded(req: Request) -> Reply:
    """A hostile endpoint: echoes the credential it got, encoded every which way."""
    value = (req.header("X-Api-Key") or "").encode()
    text = value.decode()
    return Reply(200, {
        "url": quote(text, safe=""),
        "url_path": quote(text),
        "form": quote_plus(text),
        "b64": base64.b64encode(value).decode(),
        "b64url": base64.urlsafe_b64encode(value).decode().rstrip("="),
        "b64_in_basic": base64.b64encode(b"user:" + value).decode(),
        "json": json.dumps(text),
        "plain": f"token={text};",
    })


async def test_encoded_echoes_of_a_secret_are_redacted(
    receiver: HttpReceiver, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("RELAYFLOW_SECRET_PARTNER_KEY", SECRET)
    receiver.script(path := unique_path(), _echo_encoded)
    req = request({"connection": "partner", "path": path})
    req.connection = {
        "name": "partner",
        "base_url": receiver.url,
        "auth": {"type": "header", "header": "X-Api-Key", "secret": "PARTNER_KEY"},
    }
    with caplog.at_level(logging.DEBUG):
        out = await ActivityEnvironment().run(http, req)
    assert receiver.at(path)[0].header("X-Api-Key") == SECRET  # it was sent
    text = json.dumps(out, ensure_ascii=False)
    for form in (SECRET, quote(SECRET, safe=""), quote_plus(SECRET), json.dumps(SECRET)[1:-1]):
        assert form not in text
    assert base64.b64encode(SECRET.encode()).decode()[:12] not in text
    assert base64.b64encode(b"user:" + SECRET.encode()).decode()[8:20] not in text
    assert set(out["body"]) == {"url", "url_path", "form", "b64", "b64url", "b64_in_basic", "json", "plain"}
    assert all("***" in v for v in out["body"].values()), out["body"]
    assert SECRET not in caplog.text and quote(SECRET, safe="") not in caplog.text


async def test_an_error_quoting_an_encoded_secret_is_redacted(
    receiver: HttpReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    from temporalio.exceptions import ApplicationError

    monkeypatch.setenv("RELAYFLOW_SECRET_PARTNER_KEY", SECRET)
    receiver.script(path := unique_path(), lambda r: Reply(400, f"bad key {quote_plus(SECRET)}"))
    req = request({"connection": "partner", "path": path})
    req.connection = {"name": "partner", "base_url": receiver.url,
                      "auth": {"type": "bearer", "secret": "PARTNER_KEY"}}
    with pytest.raises(ApplicationError) as err:
        await ActivityEnvironment().run(http, req)
    assert "400" in err.value.message and "bad key ***" in err.value.message
    assert quote_plus(SECRET) not in err.value.message + str(err.value.details)


def test_redaction_forms_are_not_overeager() -> None:
    forms = redaction_set(["abc"])  # short: only the value itself
    assert forms == ("abc",)
    assert redact({"k": "xabcx", "n": 3}, forms) == {"k": "x***x", "n": 3}


async def test_a_custom_action_logs_through_ctx_logger_redacted(
    client: Client, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from pydantic import BaseModel, ConfigDict

    from activities.registry import ActionContext, action
    from activities.secrets import secret_field

    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid")
        token: str = secret_field()

    @action("test-chatty", Params)
    async def chatty(params: Params, ctx: ActionContext) -> dict:
        ctx.logger.info("using token %s (b64 %s)", params.token,
                        base64.b64encode(params.token.encode()).decode())
        return {"len": len(params.token)}

    monkeypatch.setenv("RELAYFLOW_SECRET_CHATTY", SECRET)
    with caplog.at_level(logging.INFO):
        out = await ActivityEnvironment().run(chatty, request({"token": "secret:CHATTY"}))
    assert out == {"len": len(SECRET)}
    assert "using token ***" in caplog.text
    assert SECRET not in caplog.text
    assert base64.b64encode(SECRET.encode()).decode()[4:16] not in caplog.text


async def test_library_logs_of_the_call_are_redacted(
    receiver: HttpReceiver, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """httpx logs each request's URL at INFO; a `secret:` Slack URL must not show there."""
    from activities.slack import slack

    url = receiver.script(unique_path() + "/T0/B0/XyZsecretpart", Reply(200, "ok"))
    monkeypatch.setenv("RELAYFLOW_SECRET_SLACK_HOOK", url)
    with caplog.at_level(logging.INFO, logger="httpx"):
        out = await ActivityEnvironment().run(slack, request({"url": "secret:SLACK_HOOK", "text": "hi"}))
    assert out["status"] == 200
    assert any(r.name == "httpx" for r in caplog.records)  # the line is there ...
    assert url not in caplog.text and "XyZsecretpart" not in caplog.text  # ... masked
