"""`/subscriptions` (SPEC §14): who may manage them and what is refused (422 naming the field)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.api.conftest import auth, unique

GOOD_URL = "http://127.0.0.1:9/events"  # EGRESS_ALLOW=127.0.0.1 in the test suite


def body(**over: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "id": unique("v"),
        "events": ["run.failed"],
        "template": "some-template",
        "target": {"url": GOOD_URL},
    }
    doc.update(over)
    return doc


async def _refused(api: httpx.AsyncClient, doc: dict[str, Any], loc: str) -> dict[str, Any]:
    r = await api.post("/subscriptions", json=doc, headers=auth("admin"))
    assert r.status_code == 422, r.text
    locs = [e["loc"] for e in r.json().get("errors", [])]
    assert any(x == loc or x.startswith(loc) for x in locs), (loc, r.json())
    out: dict[str, Any] = r.json()
    return out


@pytest.mark.parametrize("user", ["olga", "admin"])
async def test_operators_and_admins_manage_subscriptions(api: httpx.AsyncClient, user: str) -> None:
    doc = body(tags={"team": "ops"}, target={"url": GOOD_URL, "secret": "SUBS_KEY"})
    r = await api.post("/subscriptions", json=doc, headers=auth(user))
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["target"] == {"url": GOOD_URL, "secret": "SUBS_KEY"}
    assert created["created_by"] == user and created["tags"] == {"team": "ops"}
    again = await api.post("/subscriptions", json=doc, headers=auth(user))
    assert again.status_code == 409, again.text
    listed = (await api.get("/subscriptions", headers=auth(user))).json()
    assert doc["id"] in [s["id"] for s in listed]
    log = await api.get(f"/subscriptions/{doc['id']}/deliveries", headers=auth(user))
    assert log.status_code == 200 and log.json() == []
    assert (await api.delete(f"/subscriptions/{doc['id']}", headers=auth(user))).status_code == 204
    assert (await api.delete(f"/subscriptions/{doc['id']}", headers=auth(user))).status_code == 404
    gone = await api.get(f"/subscriptions/{doc['id']}/deliveries", headers=auth(user))
    assert gone.status_code == 404


@pytest.mark.parametrize("user", ["dana", "alice", "eve"])
async def test_designers_approvers_and_others_get_403(api: httpx.AsyncClient, user: str) -> None:
    r = await api.post("/subscriptions", json=body(), headers=auth(user))
    assert r.status_code == 403, r.text
    assert (await api.get("/subscriptions", headers=auth(user))).status_code == 403
    assert (await api.delete("/subscriptions/whatever", headers=auth(user))).status_code == 403
    r = await api.get("/subscriptions/whatever/deliveries", headers=auth(user))
    assert r.status_code == 403


async def test_an_unknown_event_type_is_422_naming_it(api: httpx.AsyncClient) -> None:
    await _refused(api, body(events=["run.failed", "run.exploded"]), "body.events[1]")
    await _refused(api, body(events=[]), "body.events")


async def test_a_target_of_two_kinds_or_none_is_422(api: httpx.AsyncClient) -> None:
    two = {"url": GOOD_URL, "action": "slack", "with": {"url": "secret:SLACK"}}
    r = await _refused(api, body(target=two), "body.target")
    assert "exactly one" in r["detail"] or "exactly one" in str(r["errors"])
    await _refused(api, body(target={}), "body.target")
    await _refused(api, body(target={"url": GOOD_URL, "path": "/x"}), "body.target")


async def test_a_url_the_egress_policy_refuses_is_422(api: httpx.AsyncClient) -> None:
    r = await _refused(api, body(target={"url": "http://169.254.169.254/latest"}), "target.url")
    assert "169.254.169.254:80 is not allowed" in r["detail"]
    await _refused(api, body(target={"url": "ftp://example.com/x"}), "body.target.url")


async def test_an_unknown_connection_is_422(api: httpx.AsyncClient) -> None:
    r = await _refused(api, body(target={"connection": "no-such-conn", "path": "/x"}), "target.connection")
    assert "no-such-conn" in r["detail"]


async def test_action_targets_are_checked_like_steps(api: httpx.AsyncClient) -> None:
    ok = body(target={"action": "slack", "with": {"url": "secret:SLACK_URL"}})
    r = await api.post("/subscriptions", json=ok, headers=auth("olga"))
    assert r.status_code == 201, r.text
    await api.delete(f"/subscriptions/{ok['id']}", headers=auth("olga"))
    await _refused(api, body(target={"action": "email", "with": {}}), "target.with.to")
    await _refused(
        api,
        body(target={"action": "email", "with": {"to": ["a@example.com"], "subject": "secret:X"}}),
        "target.with.subject",
    )
    await _refused(api, body(target={"action": "http", "with": {}}), "body.target.action")
