"""Who may read a run (SPEC §8): starter, current and past assignees, the template's owners,
operators and admins — 404 to everyone else on every `/runs/{id}/…` route, and lists and
the inbox filtered the same way. Real dev server, real worker, SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.api.conftest import auth, eventually, save, unique

pytestmark = pytest.mark.usefixtures("worker")


def two_approvals(name: str) -> dict[str, Any]:
    """alice approves first, then bob: the run stays open after alice's step closed."""
    return {
        "name": name,
        "steps": [
            {"id": "first", "approval": {"assignees": {"users": ["alice"]}}},
            {"id": "second", "depends_on": ["first"], "approval": {"assignees": {"users": ["bob"]}}},
            {"id": "done", "depends_on": ["second"], "action": "log", "with": {"message": "ok"}},
        ],
    }


async def pending_steps(api: httpx.AsyncClient, run_id: str) -> list[str]:
    doc = (await api.get(f"/runs/{run_id}", headers=auth("eve"))).json()
    return [p["step"] for p in doc.get("pending", [])]


async def listed(api: httpx.AsyncClient, user: str, run_id: str, **params: Any) -> bool:
    r = await api.get("/runs", params=params, headers=auth(user))
    assert r.status_code == 200, r.text
    return run_id in [x["run_id"] for x in r.json()["runs"]]


async def listed_soon(api: httpx.AsyncClient, user: str, run_id: str) -> bool:
    """Listed once visibility caught up (it is eventually consistent)."""
    return bool(await eventually(lambda: listed(api, user, run_id)))


async def in_inbox(api: httpx.AsyncClient, user: str, run_id: str) -> bool:
    r = await api.get("/inbox", headers=auth(user))
    assert r.status_code == 200, r.text
    return run_id in [i["run_id"] for i in r.json()]


async def hidden_everywhere(api: httpx.AsyncClient, user: str, run_id: str, template: str) -> None:
    """Every run route answers `user` exactly as for a run that does not exist."""
    ghost = unique("ghost")
    calls: list[tuple[str, str, dict[str, Any] | None]] = [
        ("GET", "", None),
        ("POST", "/pause", None),
        ("POST", "/resume", None),
        ("POST", "/cancel", None),
        ("POST", "/steps/first/decision", {"outcome": "approved"}),
        ("POST", "/steps/second/decision", {"outcome": "approved"}),
        ("POST", "/steps/first/reassign", {"users": [user]}),
        # an invalid body still gets the 404 first: nothing about the run leaks
        ("POST", "/steps/first/decision", {"outcome": ""}),
    ]
    for method, suffix, body in calls:
        r = await api.request(method, f"/runs/{run_id}{suffix}", json=body, headers=auth(user))
        missing = await api.request(
            method, f"/runs/{ghost}{suffix}", json=body, headers=auth(user)
        )
        assert r.status_code == 404, (user, method, suffix, r.text)
        assert r.json() == {
            "error": "not_found",
            "detail": f"run {run_id!r} does not exist",
        }
        assert missing.json()["detail"] == f"run {ghost!r} does not exist"
    assert not await listed(api, user, run_id)
    assert not await listed(api, user, run_id, template=template)
    assert not await in_inbox(api, user, run_id)


async def test_run_reads_follow_the_access_rule(api: httpx.AsyncClient) -> None:
    name = unique("acl")
    await save(api, two_approvals(name), user="dana")  # dana becomes the owner
    r = await api.post("/runs", json={"template": name, "input": {}}, headers=auth("eve"))
    assert r.status_code == 201, r.text
    run_id = r.json()["run_id"]
    assert await eventually(lambda: _has(pending_steps(api, run_id), "first"))

    # readers: starter, current assignee, owner, operator, admin
    for reader in ("eve", "alice", "dana", "olga", "admin"):
        r = await api.get(f"/runs/{run_id}", headers=auth(reader))
        assert r.status_code == 200, (reader, r.text)
        assert r.json()["run_id"] == run_id
    # listed for the starter, the owner, operators/admins and the current assignee
    for reader in ("eve", "dana", "olga", "admin", "alice"):
        assert await listed_soon(api, reader, run_id), reader
    assert await eventually(lambda: in_inbox(api, "alice", run_id))
    # outsiders (checked once the run is visible to lists): carl and fay (no roles), dirk (a
    # designer who does not own the template)
    for outsider in ("carl", "fay", "dirk"):
        await hidden_everywhere(api, outsider, run_id, name)

    # a reader who may not do what was asked: 403, as before
    r = await api.post(f"/runs/{run_id}/pause", headers=auth("alice"))
    assert r.status_code == 403 and "starter" in r.json()["detail"]
    r = await api.post(
        f"/runs/{run_id}/steps/first/decision", json={"outcome": "approved"}, headers=auth("dana")
    )
    assert r.status_code == 403 and r.json()["error"] == "forbidden"

    # alice hands her seat to carl: carl becomes a current assignee and may read the run
    r = await api.post(
        f"/runs/{run_id}/steps/first/reassign", json={"users": ["carl"]}, headers=auth("alice")
    )
    assert r.status_code == 200, r.text
    assert (await api.get(f"/runs/{run_id}", headers=auth("carl"))).status_code == 200
    assert await eventually(lambda: in_inbox(api, "carl", run_id))
    r = await api.post(
        f"/runs/{run_id}/steps/first/decision", json={"outcome": "approved"}, headers=auth("carl")
    )
    assert r.status_code == 200, r.text
    assert await eventually(lambda: _has(pending_steps(api, run_id), "second"))

    # carl and alice are past assignees now: they read the run by id...
    for past in ("carl", "alice"):
        r = await api.get(f"/runs/{run_id}", headers=auth(past))
        assert r.status_code == 200, (past, r.text)
        assert r.json()["steps"]["first"]["decision"] == "approved"
        # ...but not what they may not do (403 from the route, not 404)
        r = await api.post(f"/runs/{run_id}/cancel", headers=auth(past))
        assert r.status_code == 403, (past, r.text)
    # the decision route keeps its semantics for readers: 409 decided, 403 not an assignee
    r = await api.post(
        f"/runs/{run_id}/steps/first/decision", json={"outcome": "approved"}, headers=auth("carl")
    )
    assert r.status_code == 409, r.text
    r = await api.post(
        f"/runs/{run_id}/steps/second/decision", json={"outcome": "approved"}, headers=auth("carl")
    )
    assert r.status_code == 403, r.text
    # lists filter on what Temporal indexes: a past assignee is not listed (documented)
    assert not await listed(api, "carl", run_id)
    assert not await in_inbox(api, "carl", run_id)
    assert await eventually(lambda: in_inbox(api, "bob", run_id))
    for outsider in ("fay", "dirk"):
        await hidden_everywhere(api, outsider, run_id, name)

    r = await api.post(
        f"/runs/{run_id}/steps/second/decision", json={"outcome": "approved"}, headers=auth("bob")
    )
    assert r.status_code == 200, r.text

    async def completed() -> bool:
        doc = (await api.get(f"/runs/{run_id}", headers=auth("eve"))).json()
        return bool(doc["state"] == "completed")

    assert await eventually(completed)
    # closed: every past assignee still reads it; outsiders still get 404
    for reader in ("carl", "alice", "bob"):
        r = await api.get(f"/runs/{run_id}", headers=auth(reader))
        assert r.status_code == 200 and r.json()["state"] == "completed", reader
    await hidden_everywhere(api, "fay", run_id, name)


async def test_role_assignees_and_owner_changes(api: httpx.AsyncClient) -> None:
    """A role assignee reads while the task is open; an approval that never opened gives
    nobody access; owners set by an admin read (and list) the template's runs."""
    name = unique("acl-role")
    doc = {
        "name": name,
        "steps": [
            {"id": "first", "approval": {"assignees": {"roles": ["manager"]}}},
            # never opens (when is false): naming carl gives carl nothing
            {"id": "never", "when": "false", "approval": {"assignees": {"users": ["carl"]}}},
        ],
    }
    await save(api, doc, user="dana")
    r = await api.post("/runs", json={"template": name, "input": {}}, headers=auth("eve"))
    run_id = r.json()["run_id"]
    assert await eventually(lambda: _has(pending_steps(api, run_id), "first"))
    for manager in ("alice", "bob"):  # role:manager in Assignees
        assert (await api.get(f"/runs/{run_id}", headers=auth(manager))).status_code == 200
        assert await listed_soon(api, manager, run_id), manager
    await hidden_everywhere(api, "carl", run_id, name)
    await hidden_everywhere(api, "dirk", run_id, name)

    # dirk becomes an owner: he reads and lists every run of the template
    r = await api.put(f"/templates/{name}/owners", json={"users": ["dirk"]}, headers=auth("admin"))
    assert r.status_code == 200 and r.json() == {"name": name, "owners": ["dirk"]}
    assert (await api.get(f"/runs/{run_id}", headers=auth("dirk"))).status_code == 200
    assert await listed(api, "dirk", run_id, template=name)
    # dana is no longer an owner (PUT replaces the list): the run is hidden from her now
    await hidden_everywhere(api, "dana", run_id, name)
    assert (await api.post(f"/runs/{run_id}/cancel", headers=auth("admin"))).status_code == 202


async def test_start_with_someone_elses_run_id_is_409(api: httpx.AsyncClient) -> None:
    """A repeated run id answers 200 with the run only to its own starter."""
    name = unique("acl-id")
    await save(api, two_approvals(name))
    run_id = unique("mine")
    body = {"template": name, "input": {}, "run_id": run_id}
    assert (await api.post("/runs", json=body, headers=auth("eve"))).status_code == 201
    assert (await api.post("/runs", json=body, headers=auth("eve"))).status_code == 200
    r = await api.post("/runs", json=body, headers=auth("fay"))
    assert r.status_code == 409 and r.json()["error"] == "conflict"
    assert (await api.post(f"/runs/{run_id}/cancel", headers=auth("eve"))).status_code == 202


async def _has(steps: Any, step: str) -> bool:
    return step in await steps
