"""Custom actions published by an installed package (tests/fixtures/custom_action)."""

from __future__ import annotations

import logging
from importlib.metadata import EntryPoint

import pytest
import relayflow_greet  # noqa: F401  (installed by `make install`: pip install -e tests/fixtures/custom_action)
from temporalio.client import Client
from temporalio.worker import Worker

from activities.registry import _load_entry_point, action_models, all_activities, get_action
from tests.activities.conftest import run
from tests.helpers.language import validate_template


def test_entry_points_are_discovered() -> None:
    names = {a.__temporal_activity_definition.name for a in all_activities()}
    assert {"greet", "shout"} <= names  # a function entry point and a module entry point
    assert set(action_models()["greet"].model_fields) == {"name", "greeting"}
    spec = get_action("greet")
    assert spec is not None and spec.fn.__module__ == "relayflow_greet.actions"


async def test_custom_action_runs_in_a_worker(client: Client, action_worker: Worker) -> None:
    assert await run(client, action_worker, "greet", {"name": "Ada"}) == {
        "message": "Hello, Ada!",
        "step": "s",
    }
    assert await run(client, action_worker, "shout", {"text": "hi"}) == {"text": "HI"}


def test_broken_entry_points_are_logged_not_fatal(caplog: pytest.LogCaptureFixture) -> None:
    group = "relayflow.actions"
    with caplog.at_level(logging.WARNING, "relayflow.actions"):
        _load_entry_point(EntryPoint("gone", "relayflow_greet.missing:nothing", group))
        _load_entry_point(EntryPoint("plain", "relayflow_greet.actions:GreetParams", group))
        _load_entry_point(EntryPoint("empty", "relayflow_greet", group))
        _load_entry_point(EntryPoint("hello", "relayflow_greet.actions:greet", group))
    messages = [r.getMessage() for r in caplog.records]
    assert any("could not load" in m and "gone" in m for m in messages)
    assert any("neither an @action function nor a module" in m for m in messages)
    assert any("defines no @action" in m for m in messages)
    assert any("'hello' registers the action 'greet'" in m for m in messages)


def test_bad_with_for_a_custom_action_is_rejected_at_validation() -> None:
    doc = {"name": "t", "steps": [{"id": "hi", "action": "greet", "with": {"nam": "Ada"}}]}
    findings = {f.loc: f.msg for f in validate_template(doc).findings}
    assert findings == {
        "steps[0].with": "action 'greet' needs field 'name'",
        "steps[0].with.nam": "unknown field 'nam' for action 'greet' (did you mean 'name'?)",
    }
    ok = {"name": "t", "steps": [{"id": "hi", "action": "greet", "with": {"name": "Ada"}}]}
    assert validate_template(ok).findings == []
