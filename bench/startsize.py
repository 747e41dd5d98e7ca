"""Start input size: how many bytes each built-in template's run puts in its first event.

Every `templates/*.yaml` is saved through the real API (in-process, `bench.api_rig`,
with the demo connections of `deploy/connections.yaml` created first) and started
through `POST /runs` with its example input (`templates/examples/<name>.json`), on a
task queue no worker polls — so the run is started exactly as in production and
nothing else happens. Then the WorkflowExecutionStarted event's input is read back
from Temporal: the stored payload bytes (what the server persists and sends to a
worker with every first workflow task and every replay), and a breakdown of the
decoded `RunInput` by field (the compiled plan is most of it).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import yaml

from bench.api_rig import ADMIN, MANAGER, api
from bench.common import ROOT
from tests.helpers.temporal import start_dev_server

TEMPLATES = ROOT / "templates"
CONNECTIONS = ROOT / "deploy" / "connections.yaml"


def breakdown(data: bytes) -> dict[str, int]:
    """Bytes of each top-level field of a JSON payload (compact JSON of the value)."""
    doc = json.loads(data)
    if not isinstance(doc, dict):
        return {}
    return {k: len(json.dumps(v, separators=(",", ":"))) for k, v in doc.items()}


def step_count(doc: dict[str, Any]) -> int:
    """Steps of a template document, nested ones (`steps:` anywhere below a step) included."""
    n = 0

    def walk(value: Any) -> None:
        nonlocal n
        if isinstance(value, dict):
            for k, v in value.items():
                if k == "steps" and isinstance(v, list):
                    n += sum(1 for s in v if isinstance(s, dict))
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)

    walk(doc)
    return n


async def run() -> dict[str, Any]:
    env = await start_dev_server()
    client = env.client
    idle_tq = f"bench-start-size-{uuid.uuid4().hex[:8]}"
    rows: list[dict[str, Any]] = []
    try:
        async with api(client, idle_tq) as a:
            entries = yaml.safe_load(CONNECTIONS.read_text())["connections"]
            for entry in entries:
                resp = await a.http.post("/connections", json=entry, headers=ADMIN)
                if resp.status_code not in (200, 201, 409):
                    raise RuntimeError(f"POST /connections {entry['name']}: {resp.status_code} {resp.text}")
            docs = {p.stem: yaml.safe_load(p.read_text()) for p in sorted(TEMPLATES.glob("*.yaml"))}
            for doc in docs.values():
                await a.save_template(doc)
            for name, doc in docs.items():
                example = TEMPLATES / "examples" / f"{name}.json"
                data = json.loads(example.read_text()) if example.exists() else {}
                rid = f"size-{name}-{uuid.uuid4().hex[:6]}"
                resp = await a.http.post(
                    "/runs", json={"template": doc["name"], "input": data, "run_id": rid}, headers=MANAGER
                )
                if resp.status_code != 201:
                    raise RuntimeError(f"POST /runs {name}: {resp.status_code} {resp.text}")
                history = await client.get_workflow_handle(rid).fetch_history()
                started = history.events[0].workflow_execution_started_event_attributes
                payloads = list(started.input.payloads)
                rows.append({
                    "template": doc["name"],
                    "steps": step_count(doc),
                    "yaml_bytes": len((TEMPLATES / f"{name}.yaml").read_bytes()),
                    "payload_bytes": sum(len(p.data) for p in payloads),
                    "payloads_proto_bytes": started.input.ByteSize(),
                    "encoding": payloads[0].metadata.get("encoding", b"?").decode() if payloads else "none",
                    "fields": breakdown(payloads[0].data) if payloads else {},
                })
    finally:
        await env.shutdown()
    return {"templates": rows}


def report(res: dict[str, Any]) -> list[str]:
    rows = res["templates"]
    fields = sorted({k for r in rows for k in r["fields"]}, key=lambda k: (k != "plan", k))
    top = [f for f in fields if any(r["fields"].get(f, 0) > 64 for r in rows)]
    out = [
        "Each built-in template saved through the API and started through `POST /runs` with its "
        "example input (`templates/examples/`), on a task queue no worker polls; the numbers are "
        "the WorkflowExecutionStarted event's input as Temporal stores it (this is sent to a worker "
        "with the first workflow task of the run and with every replay of it). Field columns = "
        "compact JSON bytes of that `RunInput` field.",
        "",
        "| template | steps | YAML bytes | **start input bytes** | stored (proto) bytes | encoding | "
        + " | ".join(f"`{f}`" for f in top) + " |",
        "|---|---|---|---|---|---|" + "---|" * len(top),
    ]
    for r in rows:
        out.append(
            f"| {r['template']} | {r['steps']} | {r['yaml_bytes']:,} | **{r['payload_bytes']:,}** | "
            f"{r['payloads_proto_bytes']:,} | {r['encoding']} | "
            + " | ".join(f"{r['fields'].get(f, 0):,}" for f in top) + " |"
        )
    return [*out, ""]


if __name__ == "__main__":
    result = asyncio.run(run())
    print("\n".join(report(result)))
    print(json.dumps(result, indent=1)[:3000])
