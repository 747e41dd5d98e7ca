"""JSON Schemas with `$ref`s: refused at save time, and never a 500 at run time."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.api.conftest import approval_template, auth, save, simple_template, unique
from tests.api.test_schedules_triggers import signed

DANGLING = {"type": "object", "properties": {"amount": {"$ref": "#/$defs/money"}}}
REMOTE = {"type": "object", "properties": {"amount": {"$ref": "https://schemas.example/m.json"}}}


@pytest.mark.parametrize(
    ("schema", "fragment"),
    [
        (DANGLING, "$ref '#/$defs/money' does not resolve within this schema"),
        (REMOTE, "points to another document, which is never fetched"),
    ],
)
async def test_input_schema_refs_must_resolve(
    api: httpx.AsyncClient, schema: dict[str, Any], fragment: str
) -> None:
    doc = simple_template(unique("refs"), input_schema=schema)
    r = await api.post("/templates", json=doc, headers=auth("dana"))
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["error"] == "invalid" and fragment in body["detail"]
    assert [e["loc"] for e in body["errors"]] == ["input_schema"]
    assert fragment in body["errors"][0]["msg"]


async def test_form_refs_must_resolve(api: httpx.AsyncClient) -> None:
    doc = approval_template(unique("formref"))
    doc["steps"][0]["approval"]["form"] = {"type": "object", "$ref": "#/$defs/nope"}
    r = await api.post("/templates/validate", json=doc, headers=auth("dana"))
    assert r.status_code == 422, r.text
    [error] = r.json()["errors"]
    assert error["loc"] == "steps[0].approval.form"
    assert "$ref '#/$defs/nope' does not resolve" in error["msg"]


async def test_local_refs_are_fine(api: httpx.AsyncClient) -> None:
    schema = {
        "type": "object",
        "properties": {"amount": {"$ref": "#/$defs/money"}},
        "$defs": {"money": {"type": "number", "minimum": 0}},
    }
    name = unique("goodref")
    await save(api, simple_template(name, input_schema=schema))
    r = await api.post(
        "/runs", json={"template": name, "input": {"amount": -1}}, headers=auth("eve")
    )
    assert r.status_code == 422 and r.json()["errors"][0]["loc"] == "input.amount"


@pytest.fixture
def unchecked_refs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Save-time `$ref` checks off: templates as saved before they existed."""
    import workflows.language.checker as rules

    real = rules.schema_problems
    monkeypatch.setattr(rules, "schema_problems", lambda s: [p for p in real(s) if "$ref" not in p])


@pytest.mark.usefixtures("unchecked_refs")
@pytest.mark.parametrize("schema", [DANGLING, REMOTE])
async def test_stored_schema_with_a_bad_ref_is_422_everywhere(
    api: httpx.AsyncClient, schema: dict[str, Any]
) -> None:
    name = unique("oldref")
    await save(api, simple_template(name, input_schema=schema))
    r = await api.post(
        "/runs", json={"template": name, "input": {"amount": 1}}, headers=auth("eve")
    )
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["error"] == "invalid" and "input_schema cannot check the input" in body["detail"]
    assert body["errors"][0]["loc"] == "input_schema"

    sched = {"id": unique("s"), "template": name, "input": {"amount": 1}, "cron": "0 3 * * *"}
    r = await api.post("/schedules", json=sched, headers=auth("dana"))
    assert r.status_code == 422, r.text

    rule = {"id": unique("t"), "source": "acme", "template": name, "input": {"amount": 1}}
    assert (await api.post("/triggers", json=rule, headers=auth("dana"))).status_code == 201
    try:
        raw = json.dumps({"n": 1, "nonce": unique("n")}).encode()  # bodies differ per delivery
        headers = signed(raw) | {"X-Delivery-Id": unique("d")}
        r = await api.post("/hooks/acme", content=raw, headers=headers)
        assert r.status_code == 202, r.text
        skipped = {e["loc"]: e["msg"] for e in r.json()["skipped"]}
        assert "input_schema" in skipped[f"triggers.{rule['id']}"]
        assert not [x for x in r.json()["runs"] if x.startswith(rule["id"])]
        again = await api.post("/hooks/acme", content=raw, headers=headers)
        assert again.status_code == 202 and again.json()["duplicate"] is True  # recorded
    finally:
        await api.delete(f"/triggers/{rule['id']}", headers=auth("dana"))
