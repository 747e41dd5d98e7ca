"""Helpers of the template-test API tests (SPEC §13): saving, testing, mirroring real runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import yaml
from temporalio.client import Client
from temporalio.worker import Replayer

from tests.api.conftest import auth, eventually, save, unique

ROOT = Path(__file__).resolve().parents[2]




async def connection(api: httpx.AsyncClient, base_url: str, name: str | None = None) -> str:
    name = name or unique("tt")
    body = {"name": name, "base_url": base_url}
    r = await api.post("/connections", json=body, headers=auth("admin"))
    if r.status_code == 409:
        r = await api.put(f"/connections/{name}", json=body, headers=auth("admin"))
    assert r.status_code in (200, 201), r.text
    return name


async def run_test(
    api: httpx.AsyncClient, name: str, body: dict[str, Any], user: str = "dana"
) -> dict[str, Any]:
    r = await api.post(f"/templates/{name}/test", json=body, headers=auth(user))
    assert r.status_code == 200, r.text
    result: dict[str, Any] = r.json()
    return result


async def save_po(api: httpx.AsyncClient) -> str:
    """The built-in purchase order under a new name (its connection `erp` must exist: made
    here when missing, pointing nowhere — tests that need it elsewhere point it there)."""
    erp = {"name": "erp", "base_url": "http://127.0.0.1:9/erp"}
    r = await api.post("/connections", json=erp, headers=auth("admin"))
    assert r.status_code in (201, 409), r.text
    doc = yaml.safe_load((ROOT / "templates" / "purchase-order.yaml").read_text())
    doc["name"] = name = unique("purchase-order")
    await save(api, doc)
    return name


async def assert_replays(client: Client, run_id: str) -> None:
    """Test mode is workflow code like the rest: its history replays deterministically."""
    import worker as relayflow_worker
    from workflows.engine.workflow import TemplateWorkflow

    history = await client.get_workflow_handle(run_id).fetch_history()
    replayer = Replayer(
        workflows=[TemplateWorkflow],
        data_converter=client.data_converter,
        workflow_runner=relayflow_worker.workflow_runner(),
    )
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, result.replay_failure



# -- a real run, and what a test run needs to mirror it ------------------------------------


async def real_run(api: httpx.AsyncClient, name: str, data: dict[str, Any]) -> str:
    r = await api.post("/runs", json={"template": name, "input": data}, headers=auth("dana"))
    assert r.status_code == 201, r.text
    run_id: str = r.json()["run_id"]
    return run_id


async def doc_when(api: httpx.AsyncClient, run_id: str, pred: Any) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        doc: dict[str, Any] = (await api.get(f"/runs/{run_id}", headers=auth("dana"))).json()
        return doc if pred(doc) else None

    found = await eventually(check, 30)
    assert found, (await api.get(f"/runs/{run_id}", headers=auth("dana"))).json()
    result: dict[str, Any] = found
    return result


def closed(doc: dict[str, Any]) -> bool:
    return doc["state"] in ("completed", "failed", "cancelled")


def pending_at(step: str) -> Any:
    return lambda doc: any(p["step"] == step for p in doc["pending"])


async def decide(api: httpx.AsyncClient, run_id: str, step: str, outcome: str, user: str) -> None:
    r = await api.post(
        f"/runs/{run_id}/steps/{quote(step, safe='')}/decision",
        json={"outcome": outcome}, headers=auth(user),
    )
    assert r.status_code == 200, r.text


def mocks_from(doc: dict[str, Any], actions: list[str]) -> dict[str, Any]:
    """Every action step of the real run answered as it was answered there: by address,
    plus a default per step id (so that the plan covers items that never started)."""
    mocks: dict[str, Any] = {}
    for address, st in doc["steps"].items():
        step_id = address.rsplit(".", 1)[-1]
        if step_id not in actions or st["state"] not in ("succeeded", "failed"):
            continue
        if st["state"] == "succeeded":
            answer = {"output": st["output"]}
        else:
            answer = {"error": st["error"], "retryable": st["attempts"] != 1}
        mocks[address] = answer
        mocks.setdefault(step_id, answer)
    for step_id in actions:  # steps the real run never started: they do not start here either
        mocks.setdefault(step_id, {"error": "not called in the real run"})
    return mocks


def timeless(value: Any) -> Any:
    """`value` without the times of decision records (`{actor, outcome, at, ...}`)."""
    if isinstance(value, dict):
        decision = "actor" in value and "outcome" in value
        return {k: timeless(v) for k, v in value.items() if not (decision and k == "at")}
    if isinstance(value, list):
        return [timeless(v) for v in value]
    return value


def comparable(doc: dict[str, Any]) -> dict[str, Any]:
    """A status document without times."""
    steps = {}
    for address, st in doc["steps"].items():
        steps[address] = {k: st[k] for k in ("state", "attempts", "error", "decision", "sla_level")}
        steps[address]["output"] = timeless(st["output"])
    return {"state": doc["state"], "output": doc["output"], "error": doc["error"], "steps": steps}


def assert_same(tested: dict[str, Any], real: dict[str, Any]) -> None:
    """The test run's status document is the real run's (times aside), field by field."""
    a, b = comparable(tested), comparable(real)
    diffs = [f"{k}: test {a[k]!r} != real {b[k]!r}" for k in ("state", "output", "error")
             if a[k] != b[k]]
    assert set(a["steps"]) == set(b["steps"]), (sorted(a["steps"]), sorted(b["steps"]))
    for address, st in b["steps"].items():
        diffs += [f"steps.{address}.{k}: test {a['steps'][address][k]!r} != real {v!r}"
                  for k, v in st.items() if a["steps"][address][k] != v]
    assert not diffs, "\n".join(diffs)
