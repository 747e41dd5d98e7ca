"""`resolve_assignees` against a real directory file and the dev server's visibility."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from temporalio import workflow
from temporalio.client import Client, WorkflowHandle
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.testing import ActivityEnvironment
from temporalio.worker import Worker

from activities.assignees import ResolveRequest, open_load, resolve_assignees
from settings import get_settings
from workflows.engine.search_attributes import ASSIGNEES

DIRECTORY = {
    "users": [
        {"id": "ann", "email": "ann@example.com", "roles": ["manager"]},
        {"id": "bob", "email": "bob@example.com", "roles": ["manager", "reviewer"]},
        {"id": "cat", "roles": ["reviewer"]},
        {"id": "dan", "email": "dan@example.com", "roles": ["reviewer"]},
    ]
}


@pytest.fixture
def directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    path = tmp_path / "directory.yaml"
    path.write_text(yaml.safe_dump(DIRECTORY))
    monkeypatch.setenv("DIRECTORY_FILE", str(path))
    get_settings.cache_clear()
    yield path
    get_settings.cache_clear()


@workflow.defn(sandboxed=False)
class Holder:
    """Stands in for a run with open approvals: Assignees set at start, waits until terminated."""

    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: False)


async def resolve(client: Client | None, **kw: object) -> dict[str, object]:
    req = ResolveRequest(run_id="r", step="s", **kw)  # type: ignore[arg-type]
    result = await ActivityEnvironment(client=client).run(resolve_assignees, req)
    return result.model_dump()


async def test_roles_expand_to_members_with_emails(directory: Path) -> None:
    r = await resolve(None, roles=["reviewer"], users=["zed", "bob"])
    assert r["users"] == ["zed", "bob", "cat", "dan"]  # listed users first, then members, deduped
    assert r["emails"] == ["bob@example.com", "dan@example.com"]  # cat has no email, zed unknown
    assert r["unknown"] == ["zed"]
    assert r["roles"] == ["reviewer"]


async def test_directory_changes_apply_to_the_next_resolution(directory: Path) -> None:
    assert (await resolve(None, roles=["manager"]))["users"] == ["ann", "bob"]
    data = yaml.safe_load(directory.read_text())
    data["users"][0]["roles"] = []
    directory.write_text(yaml.safe_dump(data))
    assert (await resolve(None, roles=["manager"]))["users"] == ["bob"]


async def test_least_loaded_counts_open_approvals_in_visibility(
    client: Client, directory: Path
) -> None:
    tq = f"holders-{uuid.uuid4()}"
    tag = uuid.uuid4().hex[:8]
    # the reviewers carry 2 (bob), 1 (cat) and 0 (dan) open approvals; user ids are
    # namespaced per test run so that other tests' runs never count
    users = {u: f"{u}-{tag}" for u in ("bob", "cat", "dan")}
    directory.write_text(
        yaml.safe_dump({"users": [{"id": v, "roles": ["reviewer"]} for v in users.values()]})
    )
    loads = {users["bob"]: 2, users["cat"]: 1}
    handles: list[WorkflowHandle] = []
    async with Worker(client, task_queue=tq, workflows=[Holder]):
        try:
            for uid, n in loads.items():
                for _ in range(n):
                    handles.append(
                        await client.start_workflow(
                            Holder.run,
                            id=f"holder-{uuid.uuid4()}",
                            task_queue=tq,
                            search_attributes=TypedSearchAttributes(
                                [SearchAttributePair(ASSIGNEES, [f"user:{uid}", "role:reviewer"])]
                            ),
                            execution_timeout=timedelta(minutes=5),
                        )
                    )
            await _until_visible(client, users["bob"], 2)
            await _until_visible(client, users["cat"], 1)

            r = await resolve(client, roles=["reviewer"], pick="least_loaded")
            assert r["users"] == [users["dan"]] and r["pick"] == "least_loaded"

            # dan now has one too: ties (cat, dan at 1) go to the earlier member
            handles.append(
                await client.start_workflow(
                    Holder.run,
                    id=f"holder-{uuid.uuid4()}",
                    task_queue=tq,
                    search_attributes=TypedSearchAttributes(
                        [SearchAttributePair(ASSIGNEES, [f"user:{users['dan']}"])]
                    ),
                    execution_timeout=timedelta(minutes=5),
                )
            )
            await _until_visible(client, users["dan"], 1)
            r = await resolve(client, roles=["reviewer"], pick="least_loaded")
            assert r["users"] == [users["cat"]]

            # closed runs do not count
            for h in handles[:2]:
                await h.terminate()
            await _until_visible(client, users["bob"], 0)
            r = await resolve(client, roles=["reviewer"], pick="least_loaded")
            assert r["users"] == [users["bob"]]
        finally:
            for h in handles:
                try:
                    await h.terminate()
                except Exception:
                    pass


async def _until_visible(client: Client, user: str, count: int) -> None:
    env = ActivityEnvironment(client=client)
    for _ in range(100):
        if await env.run(open_load, user) == count:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"visibility never showed {count} open approvals for {user}")
