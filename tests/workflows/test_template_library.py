"""The built-in template library (templates/): valid, compilable, documented, with sample input."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import pytest

from tests.helpers.connections import demo_connections, demo_secrets
from tests.helpers.directory import use_directory
from tests.helpers.http_receiver import HttpReceiver, Reply, Request
from tests.helpers.language import validate_template
from workflows.engine.io import RunStatus
from workflows.language.compiler import compile_template
from workflows.language.expressions import evaluate
from workflows.language.graph import to_mermaid
from workflows.language.loader import load_document

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = sorted((ROOT / "templates").glob("*.yaml"))
EXPECTED = {
    "purchase-order",
    "content-to-social",
    "listing-campaign",
    "pull-request-review",
    "incident-escalation",
    "employee-onboarding",
}


def _load(path: Path) -> dict:
    return load_document(path.read_text())


def test_library_has_the_six_templates() -> None:
    assert {p.stem for p in TEMPLATES} >= EXPECTED


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: p.stem)
def test_template_validates_and_compiles(path: Path) -> None:
    doc = _load(path)
    assert doc["name"] == path.stem
    result = validate_template(doc)
    assert result.ok, [(f.loc, f.msg) for f in result.findings]
    assert result.template is not None
    compiled = compile_template(result.template, 1)
    assert sorted(compiled.order) == sorted(s.id for s in result.template.steps)
    # JSON and YAML forms of the same template load identically
    as_json = json.dumps(doc)
    assert load_document(as_json) == doc


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: p.stem)
def test_sample_input_matches_input_schema(path: Path) -> None:
    doc = _load(path)
    sample = ROOT / "templates" / "examples" / f"{path.stem}.json"
    assert sample.exists(), f"missing sample input {sample}"
    data = json.loads(sample.read_text())
    schema = doc["input_schema"]
    jsonschema.validators.validator_for(schema)(schema).validate(data)


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: p.stem)
def test_top_level_conditions_evaluate_on_sample_input(path: Path) -> None:
    """`when`s that only read `input` give a bool on the sample input (catches typos early)."""
    doc = _load(path)
    data = json.loads((ROOT / "templates" / "examples" / f"{path.stem}.json").read_text())
    for step in doc["steps"]:
        when = step.get("when")
        if when and "steps." not in when and "vars." not in when:
            assert isinstance(evaluate(when, {"input": data}), bool)


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: p.stem)
def test_graph_doc_in_sync(path: Path) -> None:
    """docs/graphs/<name>.md holds the current Mermaid (regenerate: python -m workflows.language.graph)."""
    result = validate_template(_load(path))
    assert result.template is not None
    graph_doc = ROOT / "docs" / "graphs" / f"{path.stem}.md"
    assert graph_doc.exists(), "run: python -m workflows.language.graph --write"
    assert f"```mermaid\n{to_mermaid(result.template)}```" in graph_doc.read_text(), (
        "docs/graphs out of date; run: .venv/bin/python -m workflows.language.graph --write"
    )


# ---------------------------------------------------------------- end to end
#
# Every built-in template runs to completion on the real worker (TemplateWorkflow +
# the real actions) against one local HTTP receiver standing in for the ERP, the
# content service, Slack, GitHub, the status page, IT and HR; approvals are decided
# through the `decide` update by users of a test directory.

REPLIES: dict[tuple[str, str], object] = {
    ("GET", "/erp/budget/CC-100"): {"available": 10000},
    ("POST", "/erp/orders"): {"order_id": "O-1"},
    ("POST", "/generate"): {"text": "Durable workflows, explained.", "score": 0.92},
    ("POST", "/social/posts"): {"id": "p1", "url": "https://social.example/p1"},
    ("GET", "/mls/listings/L-1009"): {"address": "1 Main St", "price": 420000},
    ("POST", "/campaigns"): {"campaign_id": "C-7"},
    ("GET", "/github/repos/acme/relayflow/pulls/42"): {"additions": 320, "deletions": 180},
    ("POST", "/github/repos/acme/relayflow/issues/42/comments"): {"id": 99},
    ("POST", "/status/incidents"): {"ok": True},
    ("POST", "/it/accounts"): {"login": "grace"},
    ("POST", "/it/orders"): {"order_id": "IT-1"},
    ("POST", "/hr/hooks"): {"received": True},
}

# template -> [(step, outcome)] decided in order, each by a member of the step's role
DECISIONS: dict[str, list[tuple[str, str]]] = {
    "purchase-order": [("manager_approval", "approved")],
    "pull-request-review": [("review", "approved")],
    "incident-escalation": [("acknowledge", "acknowledged"), ("resolve", "resolved")],
    "employee-onboarding": [("hr_signoff", "approved")],
}

DIRECTORY = {
    "users": [
        {"id": "mia", "email": "mia@example.com", "roles": ["manager"]},
        {"id": "rex", "email": "rex@example.com", "roles": ["reviewer"]},
        {"id": "oli", "email": "oli@example.com", "roles": ["oncall"]},
        {"id": "hal", "email": "hal@example.com", "roles": ["hr"]},
    ]
}
ACTORS = {
    "manager_approval": "mia",
    "review": "rex",
    "acknowledge": "oli",
    "resolve": "oli",
    "hr_signoff": "hal",
}


def _reply(req: Request) -> Reply:
    """REPLIES by (method, path); Slack webhooks answer a plain `ok`; anything else 404."""
    if req.target.startswith("/slack/"):
        return Reply(200, b"ok", {"Content-Type": "text/plain"})
    if (req.method, req.target) in REPLIES:
        return Reply(200, REPLIES[(req.method, req.target)])
    return Reply(404, b"")


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[HttpReceiver]:
    """One local receiver per test standing in for every service the templates call
    (the demo connections and Slack webhook secrets pointed at it)."""
    with HttpReceiver(default=_reply) as r:
        for name, value in demo_secrets(r.url).items():
            monkeypatch.setenv(name, value)
        yield r


@pytest.fixture
def directory(tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    yield from use_directory(tmp_path, monkeypatch, DIRECTORY)


async def _until(handle, pred, timeout: float = 20):  # type: ignore[no-untyped-def]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        st = await handle.query("status", result_type=RunStatus)
        if pred(st):
            return st
        assert loop.time() < deadline, st.model_dump_json(indent=1)
        await asyncio.sleep(0.1)


async def _run(client, receiver, name: str, decisions, data_patch=None):  # type: ignore[no-untyped-def]
    """Run templates/<name>.yaml with its sample input; decide `decisions` in order."""
    import uuid

    from activities.assignees import resolve_assignees
    from activities.registry import all_activities
    from activities.task_notify import notify_task
    from tests.helpers.temporal import new_worker
    from workflows.engine.io import DecideInput, RunInput, StepStatus

    result = validate_template(_load(ROOT / "templates" / f"{name}.yaml"))
    assert result.template is not None
    plan = compile_template(result.template, 1)
    sample = (ROOT / "templates" / "examples" / f"{name}.json").read_text()
    data = {**json.loads(sample), **(data_patch or {})}
    # dedupe: the registry may already include the internal approval activities
    activities = list(
        {a.__name__: a for a in [resolve_assignees, notify_task, *all_activities()]}.values()
    )
    async with new_worker(client, activities=activities) as w:
        handle = await client.start_workflow(
            "TemplateWorkflow",
            RunInput(plan=plan, input=data, connections=demo_connections(receiver.url)),
            id=f"lib-{name}-{uuid.uuid4().hex[:8]}",
            task_queue=w.task_queue,
        )
        for step, outcome in decisions:
            await _until(
                handle,
                lambda st, s=step: (
                    st.steps[s].state == "waiting" and any(p.step == s for p in st.pending)
                ),
            )
            decided = await handle.execute_update(
                "decide",
                DecideInput(step=step, outcome=outcome, actor=ACTORS[step]),
                result_type=StepStatus,
            )
            assert decided.decision == outcome
        output = await handle.result()
        st = await _until(handle, lambda s: True)
    failed = {k: v.error for k, v in st.steps.items() if v.state == "failed"}
    assert not failed, failed
    assert st.state == "completed", st.model_dump_json(indent=1)
    return output, st


EXPECTED_OUTPUT = {
    "purchase-order": lambda o: o["order"] == {"order_id": "O-1"} and o["decision"] == "approved",
    "content-to-social": lambda o: o["post"]["url"] == "https://social.example/p1",
    "listing-campaign": lambda o: o["campaign"] == {"campaign_id": "C-7"},
    "pull-request-review": lambda o: o["changed_lines"] == 500 and o["decision"] == "approved",
    "incident-escalation": lambda o: o["outcome"] == "resolved" and o["acknowledged_by"] == ["oli"],
    "employee-onboarding": lambda o: len(o["orders"]) == 3 and o["welcome"] == "succeeded",
}


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: p.stem)
async def test_template_runs_end_to_end(path: Path, client, receiver, directory) -> None:  # type: ignore[no-untyped-def]
    output, _ = await _run(client, receiver, path.stem, DECISIONS.get(path.stem, []))
    assert EXPECTED_OUTPUT[path.stem](output), output
    assert receiver.requests, "the template called nothing"


async def test_purchase_order_rejected_and_small_orders(client, receiver, directory) -> None:  # type: ignore[no-untyped-def]
    """A rejection is a decision: the run completes, nothing is ordered, order = null."""
    output, st = await _run(client, receiver, "purchase-order", [("manager_approval", "rejected")])
    assert output == {"order": None, "decision": "rejected"}
    assert st.steps["place_order"].state == "skipped"
    assert ("POST", "/erp/orders") not in [(r.method, r.target) for r in receiver.requests]
    # a small order skips the approval and is placed
    output, st = await _run(client, receiver, "purchase-order", [], {"amount": 50})
    assert output == {"order": {"order_id": "O-1"}, "decision": "not needed"}
    assert st.steps["manager_approval"].state == "skipped"


async def test_pull_request_small_change_passes_without_review(client, receiver, directory) -> None:  # type: ignore[no-untyped-def]
    output, st = await _run(client, receiver, "pull-request-review", [], {"large_threshold": 1000})
    assert output == {"changed_lines": 500, "decision": "auto"}
    comments = [r for r in receiver.requests if r.target.endswith("/comments")]
    assert [c.json for c in comments] == [{"body": "relayflow: small change, passed automatically"}]
    # the github connection's credentials and headers, never written in the template
    assert comments[0].header("Authorization") == "Bearer demo-github-token"
    assert comments[0].header("Accept") == "application/vnd.github+json"
    assert "demo-github-token" not in st.model_dump_json()
